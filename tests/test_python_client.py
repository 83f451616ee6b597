#!/usr/bin/python3
"""The Python client (clients/python, spawnd.multiprocessing) against a real
spawnd: the chapter's Process programs (tests/python/chapter, PyMOTW 3's
multiprocessing basics, changed only in their import line and one target
name) and its communication programs (queue, JoinableQueue with poison pills,
event, lock, condition, semaphore, Manager dict, Namespace) print what the
chapter shows, and the API raises what multiprocessing raises (the shared
objects' own edges: tests/test_python_objects.py). Prints "PASS case" / "FAIL case: why" lines like tests/check.h, for
tests/run.sh; exits 1 when a case failed.

The server is $SPAWND_BIN (default build/spawnd) on port 0, with a targets
file registering tests/python/chapter_targets.py's functions as python targets
(clients/python on their path, so they call current_process()). Each program
runs as `python3 PROGRAM` with PYTHONPATH=clients/python (no install needed)
and SPAWND_URL set. Where the chapter's order depends on timing, lines are
compared as a multiset, with each process's own lines in order; pids become PID.
"""
import ast
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import traceback

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLIENT = os.path.join(REPO, "clients", "python")
CHAPTER = os.path.join(REPO, "tests", "python", "chapter")
sys.path.insert(0, CLIENT)

from spawnd import SpawndError, multiprocessing  # noqa: E402

TARGETS = ["named_worker", "my_service", "daemon", "non_daemon", "slow_worker", "exit_error",
           "exit_ok", "return_value", "raises", "terminated"]
# The communication programs' targets, with their arguments: a shared object (or
# a pickled value) arrives as a string the client's runner hook turns back.
S, I, N = "string", "integer", "number"
ARGS = {"queue_worker": [("q", S)], "Consumer": [("state", S)], "wait_for_event": [("e", S)],
        "wait_for_event_timeout": [("e", S), ("t", N)], "worker_with": [("lock", S), ("stream", S)],
        "worker_no_with": [("lock", S), ("stream", S)], "stage_1": [("cond", S)], "stage_2": [("cond", S)],
        "dict_worker": [("d", S), ("key", I), ("value", I)], "producer": [("ns", S), ("event", S)],
        "consumer": [("ns", S), ("event", S)], "mutable_producer": [("ns", S), ("event", S)],
        "mutable_consumer": [("ns", S), ("event", S)], "semaphore_worker": [("s", S), ("pool", S)]}
OBJECT_TIMEOUT = 2    # the server's longest wait: the client's longer waits must loop over it
failed = 0


def start_server(root):
    folder = os.path.join(REPO, "tests", "python")
    targets = [{"name": n, "description": "chapter: %s()" % n,
                "python": {"module": "chapter_targets", "function": n, "path": [folder, CLIENT]}}
               for n in TARGETS]
    targets += [{"name": n, "description": "chapter: %s()" % n,
                 "args": [{"name": a, "type": t, "required": True} for a, t in args],
                 "python": {"module": "chapter_targets", "function": n, "path": [folder, CLIENT]}}
                for n, args in ARGS.items()]
    targets += [{"name": n, "args": [{"name": a, "type": t, "required": True} for a, t in args],
                 "python": {"module": "object_targets", "function": n, "path": [folder, CLIENT]}}
                for n, args in (("hold_lock", [("lock", S), ("seconds", N)]),
                                ("echo_kinds", [("q", S), ("values", S)]),
                                ("pipe_echo", [("conn", S)]))]
    os.makedirs(os.path.join(root, "state"))
    with open(os.path.join(root, "targets.json"), "w") as f:
        json.dump({"version": 1, "targets": targets}, f)
    binary = os.environ.get("SPAWND_BIN", os.path.join(REPO, "build", "spawnd"))
    log = open(os.path.join(root, "spawnd.log"), "w")
    server = subprocess.Popen([binary, "--listen", "127.0.0.1:0", "--state-dir", os.path.join(root, "state"),
                               "--targets", os.path.join(root, "targets.json"), "--log-level", "warn",
                               "--object-timeout", str(OBJECT_TIMEOUT)],
                              stdout=subprocess.PIPE, stderr=log, text=True)
    line = server.stdout.readline()
    match = re.match(r"spawnd listening on (http://127\.0\.0\.1:\d+)$", line.strip())
    if not match:
        server.kill()
        raise RuntimeError("spawnd did not start: %r; log: %s" % (line, open(log.name).read()))
    return server, match.group(1)


def run_program(name, url, timeout=60):
    env = dict(os.environ, PYTHONPATH=CLIENT, SPAWND_URL=url)
    env.pop("SPAWND_TOKEN", None)
    # Unbuffered, print() writes its words one at a time, so a worker's relayed line
    # (straight to the fd, as a forked child's) may land inside one of the program's.
    env.pop("PYTHONUNBUFFERED", None)
    started = time.monotonic()
    done = subprocess.run([sys.executable, os.path.join(CHAPTER, name)], env=env, capture_output=True,
                          text=True, timeout=timeout)
    pids = lambda text: re.sub(r"(?<=[ =])\d{3,}\b", "PID", text)  # noqa: E731
    return done.returncode, pids(done.stdout), pids(done.stderr), time.monotonic() - started


def check(cond, message):
    if not cond:
        raise AssertionError(message)


def same_lines(out, expected):
    """The same lines in any order."""
    check(sorted(out.splitlines()) == sorted(expected.splitlines()),
          "output:\n%s\nexpected (in any order):\n%s" % (out, expected))


def in_order(out, *lines):
    """lines appear in out in this order."""
    got = out.splitlines()
    positions = [got.index(line) if line in got else -1 for line in lines]
    check(-1 not in positions and positions == sorted(positions), "not in order %r:\n%s" % (lines, out))


def case(fn):
    global failed
    try:
        fn()
        print("PASS %s" % fn.__name__)
    except Exception as e:  # a case's failure is its line, and the next case runs
        failed += 1
        detail = str(e) if isinstance(e, AssertionError) else traceback.format_exc()
        print("FAIL %s: %s" % (fn.__name__, detail.replace("\n", "\n    ")))
    sys.stdout.flush()


# --- the chapter's programs ---

def test_five_workers():
    rc, out, err, _ = run_program("multiprocessing_simple.py", URL)
    check(rc == 0 and err == "", "exit %d, stderr %r" % (rc, err))
    check(out == "Worker\n" * 5, "output %r" % out)


def test_workers_with_arguments():
    rc, out, err, _ = run_program("multiprocessing_simpleargs.py", URL)
    check(rc == 0 and err == "", "exit %d, stderr %r" % (rc, err))
    same_lines(out, "".join("Worker: %d\n" % i for i in range(5)))


def test_names_and_current_process():
    rc, out, err, _ = run_program("multiprocessing_names.py", URL)
    check(rc == 0 and err == "", "exit %d, stderr %r" % (rc, err))
    same_lines(out, "worker 1 Starting\nworker 1 Exiting\nProcess-3 Starting\nProcess-3 Exiting\n"
                    "my_service Starting\nmy_service Exiting\n")
    for name in ("worker 1", "Process-3", "my_service"):
        in_order(out, name + " Starting", name + " Exiting")


def test_daemon_terminated_at_exit():
    rc, out, err, _ = run_program("multiprocessing_daemon.py", URL)
    check(rc == 0 and err == "", "exit %d, stderr %r" % (rc, err))
    check(out == "Starting: daemon PID\nStarting: non-daemon PID\nExiting : non-daemon PID\n", "output:\n" + out)


def test_daemon_joined():
    rc, out, err, _ = run_program("multiprocessing_daemon_join.py", URL)
    check(rc == 0 and err == "", "exit %d, stderr %r" % (rc, err))
    same_lines(out, "Starting: daemon PID\nStarting: non-daemon PID\nExiting : non-daemon PID\n"
                    "Exiting : daemon PID\n")
    in_order(out, "Starting: daemon PID", "Exiting : daemon PID")
    in_order(out, "Starting: non-daemon PID", "Exiting : non-daemon PID")


def test_join_with_timeout():
    rc, out, err, seconds = run_program("multiprocessing_daemon_join_timeout.py", URL)
    check(rc == 0 and err == "", "exit %d, stderr %r" % (rc, err))
    same_lines(out, "Starting: daemon PID\nStarting: non-daemon PID\nExiting : non-daemon PID\nd.is_alive() True\n")
    in_order(out, "Starting: daemon PID", "d.is_alive() True")
    check(seconds >= 1.0, "join(1) returned in %.2f s" % seconds)


def test_terminate():
    rc, out, err, _ = run_program("multiprocessing_terminate.py", URL)
    check(rc == 0 and err == "", "exit %d, stderr %r" % (rc, err))
    # The worker may print its first line before SIGTERM reaches it, never its last;
    # right after terminate() it may already have ended (the chapter shows it still running);
    # print() evaluates is_alive() before repr(), so "stopped ... True" is possible too.
    lines = [l for l in out.splitlines() if l != "Starting worker"]
    expected = [
        r"BEFORE: <Process name='Process-1' parent=PID initial> False",
        r"DURING: <Process name='Process-1' pid=PID parent=PID started> True",
        r"TERMINATED: <Process name='Process-1' pid=PID parent=PID "
        r"(started> True|stopped exitcode=-SIGTERM> (True|False))",
        r"JOINED: <Process name='Process-1' pid=PID parent=PID stopped exitcode=-SIGTERM> False",
    ]
    check(len(lines) == len(expected) and all(re.fullmatch(e, l) for e, l in zip(expected, lines)),
          "output:\n" + out)


def test_exit_codes():
    rc, out, err, _ = run_program("multiprocessing_exitcode.py", URL)
    check(rc == 0, "exit %d, stderr %r" % (rc, err))
    check(out == "".join("Starting process for %s\n" % n for n in
                         ("exit_error", "exit_ok", "return_value", "raises", "terminated")) +
          "     exit_error.exitcode = 1\n        exit_ok.exitcode = 0\n   return_value.exitcode = 0\n"
          "         raises.exitcode = 1\n     terminated.exitcode = -15\n", "output:\n" + out)
    check(err.startswith("Process raises:\nTraceback (most recent call last):\n") and
          err.endswith("RuntimeError: There was an error!\n"), "stderr:\n" + err)


# --- the chapter's communication programs ---

def run_ok(name):
    rc, out, err, seconds = run_program(name, URL)
    check(rc == 0 and err == "", "%s: exit %d, stderr %r, stdout %r" % (name, rc, err, out))
    return out, seconds


def per_process(out, names):
    """Each process's own lines, in order (their prefixes name them)."""
    return {n: [l for l in out.splitlines() if l.startswith(n)] for n in names}


def test_queue_passes_an_object():
    out, _ = run_ok("multiprocessing_queue.py")
    check(out == "Doing something fancy in Process-1 for Fancy Dan!\n", "output %r" % out)


def test_joinable_queue_with_poison_pills():
    out, _ = run_ok("multiprocessing_producer_consumer.py")
    n = multiprocessing.cpu_count() * 2
    lines = out.splitlines()
    check(lines[0] == "Creating %d consumers" % n, "first line %r" % lines[0])
    names = ["Consumer-%d" % i for i in range(1, n + 1)]
    done = [l.split(": ", 1)[1] for l in lines if l.split(":")[0] in names]
    check(sorted(done) == sorted(["%d * %d" % (i, i) for i in range(10)] + ["Exiting"] * n),
          "consumers' lines:\n" + out)
    for name, own in per_process(out, [x + ":" for x in names]).items():
        check(own and own[-1] == name + " Exiting", "%s did not end with its pill:\n%s" % (name, out))
    results = [l for l in lines if l.startswith("Result: ")]
    same_lines("\n".join(results), "\n".join("Result: %d * %d = %d" % (i, i, i * i) for i in range(10)))
    check(len(lines) == 1 + 10 + n + 10, "output:\n" + out)


def test_event():
    out, seconds = run_ok("multiprocessing_event.py")
    same_lines(out, "main: waiting before calling Event.set()\nwait_for_event: starting\n"
                    "wait_for_event_timeout: starting\nwait_for_event_timeout: e.is_set()-> False\n"
                    "main: event is set\nwait_for_event: e.is_set()-> True\n")
    in_order(out, "main: waiting before calling Event.set()", "main: event is set")
    in_order(out, "wait_for_event: starting", "wait_for_event: e.is_set()-> True")
    check(seconds >= 3.0, "the program took %.2f s, under its sleep(3)" % seconds)


def test_lock():
    out, _ = run_ok("multiprocessing_lock.py")
    same_lines(out, "Lock acquired via with\nLock acquired directly\n")


def test_condition():
    # The chapter's program has a race of its own: each stage_2 worker must reach
    # cond.wait() within the 1 s sleep before s1 starts and notifies, or it waits for
    # ever (with Python's multiprocessing as well). A spawnd worker is a fresh python3,
    # so on a loaded machine it can lose (one hang was seen in a day of runs). So a run
    # that hangs is tried once more; a wrong output still fails at once.
    try:
        rc, out, err, _ = run_program("multiprocessing_condition.py", URL, timeout=30)
    except subprocess.TimeoutExpired:
        rc, out, err, _ = run_program("multiprocessing_condition.py", URL, timeout=60)
    check(rc == 0 and err == "", "exit %d, stderr %r, stdout %r" % (rc, err, out))
    same_lines(out, "Starting stage_2[1]\nStarting stage_2[2]\nStarting s1\n"
                    "s1 done and ready for stage 2\nstage_2[1] running\nstage_2[2] running\n")
    for i in (1, 2):
        in_order(out, "Starting stage_2[%d]" % i, "stage_2[%d] running" % i)


def test_manager_dict():
    out, _ = run_ok("multiprocessing_manager_dict.py")
    check(out.startswith("Results: ") and out.endswith("\n") and out.count("\n") == 1, "output %r" % out)
    check(ast.literal_eval(out[len("Results: "):]) == {i: i * 2 for i in range(10)}, "output %r" % out)


def test_namespace():
    out, _ = run_ok("multiprocessing_namespaces.py")
    # As in the chapter, the consumer usually looks before the producer has set the
    # value; the producer, started just after it, may also win that race.
    check(out in ("Before event, error: 'Namespace' object has no attribute 'value'\n"
                  "After event: This is the value\n",
                  "Before event: This is the value\nAfter event: This is the value\n"), "output %r" % out)


def test_namespace_mutable_value():
    out, _ = run_ok("multiprocessing_namespaces_mutable.py")
    check(out == "Before event: []\nAfter event : []\n", "output %r" % out)


def test_semaphore():
    out, _ = run_ok("multiprocessing_semaphore.py")
    activated, running = [], []
    for line in out.splitlines():
        m = re.fullmatch(r"Activating (\d) now running (\[.*\])", line)
        if m:
            activated.append(m.group(1))
            running.append(ast.literal_eval(m.group(2)))
            check(m.group(1) in running[-1], "%s is not among the active:\n%s" % (m.group(1), out))
            continue
        m = re.fullmatch(r"Now running (\[.*\])", line)
        check(m is not None, "line %r in:\n%s" % (line, out))
        running.append(ast.literal_eval(m.group(1)))
    check(sorted(activated) == [str(i) for i in range(10)], "activations:\n" + out)
    check(all(len(r) <= 3 for r in running), "more than 3 at once:\n" + out)


# --- the API's edges, as multiprocessing has them ---

def expect(exc, fn, text=None):
    try:
        fn()
    except exc as e:
        check(text is None or text in str(e), "%s without %r: %s" % (exc.__name__, text, e))
        return e
    raise AssertionError("no %s from %s" % (exc.__name__, fn))


def test_exceptions_match_multiprocessing():
    p = multiprocessing.Process(target="sleep", args=(30,))
    expect(AssertionError, p.join, "can only join a started process")
    check(p.exitcode is None and p.pid is None and not p.is_alive(), "not started: %r" % p)
    p.start()
    expect(AssertionError, p.start, "cannot start a process twice")
    expect(AssertionError, lambda: setattr(p, "daemon", True), "process has already started")
    expect(ValueError, p.close, "still running")
    p.join(timeout=0.2)
    check(p.is_alive() and p.exitcode is None and p.pid > 0, "after join(0.2): %r" % p)
    p.kill()
    p.join()
    check(p.exitcode == -9 and not p.is_alive(), "killed: %r" % p)
    p.close()
    p.close()
    for fn in (p.is_alive, p.join, p.terminate, lambda: p.exitcode, lambda: p.pid):
        expect(ValueError, fn, "process object is closed")
    expect(SpawndError, lambda: multiprocessing.Process(target="no_such_target").start(), "not_found")
    e = expect(SpawndError, lambda: multiprocessing.Process(target="exit", args=("three",)).start())
    check(e.status == 400 and e.code == "invalid_argument" and e.details, "bad args: %s" % e)


def test_kwargs_and_active_children():
    p = multiprocessing.Process(target="sleep", kwargs={"seconds": 30}, name="nap", daemon=True)
    p.start()
    children = multiprocessing.active_children()
    check(p in children, "active_children() %r lacks %r" % (children, p))
    p.terminate()
    p.join()
    check(p.exitcode == -15 and p not in multiprocessing.active_children(), "terminated: %r" % p)
    q = multiprocessing.Process(target="exit", args=(3,))
    q.start()
    q.join()
    check(q.exitcode == 3, "exit 3: %r" % q)


def test_pip_installs_offline():
    target = tempfile.mkdtemp(prefix="spawnd-pip.")
    # setuptools builds in the source folder (build/, *.egg-info): build a copy,
    # so that the tests leave the work tree as they found it.
    source = os.path.join(target, "src")
    shutil.copytree(CLIENT, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    try:
        done = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-index",
                               "--no-build-isolation", "--no-cache-dir", "--target",
                               os.path.join(target, "site"), source],
                              capture_output=True, text=True, timeout=300,
                              env=dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1"))
        check(done.returncode == 0, "pip install failed:\n" + done.stderr[-2000:])
        check(os.path.exists(os.path.join(target, "site", "spawnd", "multiprocessing.py")), "not installed")
    finally:
        shutil.rmtree(target, ignore_errors=True)


if __name__ == "__main__":
    ROOT = tempfile.mkdtemp(prefix="spawnd-pyclient.")
    SERVER, URL = start_server(ROOT)
    multiprocessing.set_server(URL)
    try:
        for fn in (test_five_workers, test_workers_with_arguments, test_names_and_current_process,
                   test_daemon_terminated_at_exit, test_daemon_joined, test_join_with_timeout,
                   test_terminate, test_exit_codes, test_exceptions_match_multiprocessing,
                   test_kwargs_and_active_children, test_queue_passes_an_object,
                   test_joinable_queue_with_poison_pills, test_event, test_lock, test_condition,
                   test_manager_dict, test_namespace, test_namespace_mutable_value, test_semaphore,
                   test_pip_installs_offline):
            case(fn)
    finally:
        SERVER.terminate()
        status = SERVER.wait(15)
        if status != 0:
            failed += 1
            print("FAIL server_stops: spawnd exited with %d; log:\n%s" % (status, open(ROOT + "/spawnd.log").read()))
        else:
            print("PASS server_stops")
        shutil.rmtree(ROOT, ignore_errors=True)
    sys.exit(1 if failed else 0)
