#!/usr/bin/python3
"""The Python client's shared objects (clients/python: Queue, JoinableQueue,
Event, Lock, RLock, Condition, Semaphore, Barrier, Manager proxies) against a
real spawnd, past what the chapter's programs show: multiprocessing's
exceptions, waits longer than the server's cap (OBJECT_TIMEOUT), a worker's
grants released when it dies, an outside client's leases renewed, arguments
rebuilt in the worker. The server and the helpers are test_python_client.py's;
PASS/FAIL lines for tests/run.sh, exit 1 when a case failed.
"""
import os
import queue
import shutil
import sys
import tempfile
import threading
import time

sys.dont_write_bytecode = True     # importing the other test leaves no __pycache__ in tests/
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_python_client as base  # noqa: E402
from test_python_client import OBJECT_TIMEOUT, check, expect  # noqa: E402

from spawnd import SpawndError, _objects, multiprocessing  # noqa: E402
from spawnd._http import request  # noqa: E402


def slower_than(seconds, fn):
    started = time.monotonic()
    fn()
    took = time.monotonic() - started
    check(took >= seconds, "returned after %.2f s, before %.2f s" % (took, seconds))


def test_queue_exceptions_and_long_waits():
    q = multiprocessing.Queue(maxsize=1)
    check(q.empty() and not q.full() and q.qsize() == 0, "new queue: %r" % q._describe())
    expect(queue.Empty, q.get_nowait)
    # Longer than the server's longest wait (OBJECT_TIMEOUT): the client loops to its own deadline.
    slower_than(OBJECT_TIMEOUT + 0.5, lambda: expect(queue.Empty, lambda: q.get(timeout=OBJECT_TIMEOUT + 0.5)))
    q.put((1, "two"))
    check(q.full() and q.qsize() == 1, "full queue: %r" % q._describe())
    expect(queue.Full, lambda: q.put_nowait(3))
    slower_than(0.3, lambda: expect(queue.Full, lambda: q.put(3, timeout=0.3)))
    check(q.get() == (1, "two"), "a tuple comes back a tuple")
    q.put({"plain": [1, 2.5, None]})
    check(request("POST", q._path + "/get")["item"] == {"plain": [1, 2.5, None]}, "JSON goes as itself")
    many = multiprocessing.Queue()
    for item in ("a", (1, 2), "c"):
        many.put(item)
    check(many.get_many(2) == ["a", (1, 2)] and many.get_many(5) == ["c"], "get_many: in order, up to n")
    expect(queue.Empty, lambda: many.get_many(5, timeout=0.2))
    q.close()
    expect(ValueError, lambda: q.put(1), "is closed")
    jq = multiprocessing.JoinableQueue()
    jq.put("job")
    expect(ValueError, lambda: (jq.get(), jq.task_done(), jq.task_done()), "task_done() called too many times")
    jq.join()


def test_sync_semantics():
    e = multiprocessing.Event()
    slower_than(OBJECT_TIMEOUT + 0.5, lambda: check(e.wait(OBJECT_TIMEOUT + 0.5) is False, "unset event"))
    e.set()
    check(e.is_set() and e.wait() is True, "set event")
    e.clear()
    check(not e.is_set(), "cleared")
    lock = multiprocessing.Lock()
    with lock:
        check(lock.acquire(False) is False, "a Lock is not reentrant")
        slower_than(0.3, lambda: check(lock.acquire(timeout=0.3) is False, "held"))
    expect(ValueError, lock.release, "released too many times")
    r = multiprocessing.RLock()
    check(r.acquire() and r.acquire(timeout=0), "an RLock re-enters")
    other = threading.Thread(target=lambda: results.append(r.acquire(timeout=0.2)))
    results = []
    other.start()
    other.join()
    check(results == [False], "another thread waits for an RLock: %r" % results)
    r.release()
    r.release()
    expect(AssertionError, r.release, "not owned")
    c = multiprocessing.Condition()
    expect(AssertionError, c.notify, "not owned")
    with c:
        check(c.wait(0.2) is False and c.wait_for(lambda: True) is True, "condition waits")
    s = multiprocessing.BoundedSemaphore(2)
    check(s.acquire() and s.acquire() and not s.acquire(timeout=0.2), "two permits")
    s.release()
    s.release()
    expect(ValueError, s.release, "released too many times")
    b = multiprocessing.Barrier(2)
    expect(multiprocessing.BrokenBarrierError, lambda: b.wait(timeout=0.2))
    check(b.broken, "a barrier that timed out is broken")
    b.reset()
    one = multiprocessing.Barrier(1)
    check(one.wait() == 0 and one.parties == 1, "one party")


def test_manager_proxies():
    with multiprocessing.Manager() as mgr:
        d = mgr.dict(a=1)
        d[0], d[-3], d[(1, "x")], d["two words"] = "zero", "minus", "tuple", "spaced"
        check(d == {"a": 1, 0: "zero", -3: "minus", (1, "x"): "tuple", "two words": "spaced"}, "dict %s" % d)
        check(len(d) == 5 and 0 in d and d.get("b", 7) == 7 and d.pop("a") == 1, "dict API")
        expect(KeyError, lambda: d["a"])
        ns = mgr.Namespace()
        ns.x = [1]
        check(ns.x == [1] and repr(ns) == "Namespace(x=[1])", "namespace %r" % ns)
        expect(AttributeError, lambda: ns.y, "has no attribute 'y'")
        v = mgr.Value("i", 5)
        with v.get_lock():
            v.value += 1
        check(v.value == 6, "value %r" % v)
        items = mgr.list([1])
        items.append(2)
        items.extend([3, (4,)])
        items.remove(1)
        check(items == [2, 3, (4,)] and len(items) == 3 and items.pop() == (4,) and 3 in items, "list %s" % items)
        # Appends from threads at once are all kept (If-Match, again on a 412).
        threads = [threading.Thread(target=lambda t=t: [items.append((t, i)) for i in range(15)]) for t in range(3)]
        [t.start() for t in threads]
        [t.join() for t in threads]
        check(len(items) == 2 + 45, "concurrent appends: %d items" % len(items))
        path = d._path
    expect(SpawndError, lambda: request("GET", path), "not_found")   # shutdown() removed them


def test_worker_grants_and_arguments():
    lock = multiprocessing.Lock()
    p = multiprocessing.Process(target="hold_lock", args=(lock, 60))
    p.start()
    waited = time.monotonic() + 30
    while not lock._describe().get("locked") and time.monotonic() < waited:
        time.sleep(0.05)
    holders = lock._describe()["holders"]
    check(len(holders) == 1 and holders[0]["worker"], "the worker holds it as itself: %r" % holders)
    check(lock.acquire(timeout=0.2) is False, "held by the worker")
    p.kill()
    check(lock.acquire(timeout=10), "the lock is free once its worker died")
    lock.release()
    p.join()
    q = multiprocessing.Queue()
    p = multiprocessing.Process(target="echo_kinds", args=(q, {"k": (1, 2)}))
    p.start()
    check(q.get(timeout=30) == ["Queue", "dict", {"k": (1, 2)}], "what the worker received")
    p.join()


def test_outside_leases_are_renewed():
    old = _objects.LEASE
    _objects.LEASE = 1.0
    try:
        lock = multiprocessing.Lock()
        lock.acquire()
        time.sleep(3)       # three leases long: only renewals keep it
        answer = request("POST", lock._path + "/acquire?timeout=0", {"lease": 5})
        check(answer.get("acquired") is False, "the lease lapsed: %r" % answer)
        lock.release()
    finally:
        _objects.LEASE = old


if __name__ == "__main__":
    ROOT = tempfile.mkdtemp(prefix="spawnd-pyobjects.")
    SERVER, URL = base.start_server(ROOT)
    multiprocessing.set_server(URL)
    try:
        for fn in (test_queue_exceptions_and_long_waits, test_sync_semantics, test_manager_proxies,
                   test_worker_grants_and_arguments, test_outside_leases_are_renewed):
            base.case(fn)
    finally:
        SERVER.terminate()
        status = SERVER.wait(15)
        if status != 0:
            base.failed += 1
            print("FAIL server_stops: spawnd exited with %d; log:\n%s" % (status, open(ROOT + "/spawnd.log").read()))
        else:
            print("PASS server_stops")
        shutil.rmtree(ROOT, ignore_errors=True)
    sys.exit(1 if base.failed else 0)
