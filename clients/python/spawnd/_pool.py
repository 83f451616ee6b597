"""multiprocessing.Pool over spawnd's /pools (API.md "Pools and map/reduce").

Design: a server pool runs one target, a Python Pool any function, so a Pool
makes one server pool per target on first use, each with the Pool's
processes, initializer, initargs and maxtasksperchild (two targets: twice the
workers). ``func`` is a registered target's name or a function whose
``__name__`` is one, as Process's ``target=``. Each item of map() is its
call's one positional argument (starmap's: its arguments), converted as
Process arguments are (JSON scalars as they are, shared objects by name,
other values pickled for python targets).

A result that is a TaskError line ({"error": {"code", "message",
"exitcode"}}) raises TaskError where Python would raise the task's
exception: map() and get() at the first failed item, imap()'s next() at
that item (the iterator goes on after it, as Python's does).

Output: a worker's stdout carries its results, so what a task or the
initializer prints reaches the server as the worker's stderr; a thread
following GET /events relays the stderr of every process of this Pool's
server pools to this program's stderr while it runs, and join() and
terminate() relay what that thread had not reached yet (found in
GET /processes), so it is all out before they return.
"""
import atexit
import itertools
import json
import socket
import threading
import time
import urllib.parse

from spawnd._http import SpawndError, open_request, request

WAIT_SLICE = 30.0       # seconds per waiting request; longer waits loop
STREAM_RETRIES = 5      # reconnections of a results stream without progress
_live = set()           # Pools not yet joined, terminated at exit
_joined = []            # Pools joined, their server pools removed at exit


class TaskError(Exception):
    """A pool task that failed: ``code`` (exit, signal, timeout, terminated,
    not_run, ...), ``message`` (the server's), ``exitcode`` and ``index``."""

    def __init__(self, error, index=None):
        self.code = error.get("code", "error")
        self.message = error.get("message", "")
        self.exitcode = error.get("exitcode")
        self.index = index
        where = "" if index is None else "item %d: " % index
        super().__init__("%s%s (%s, exit code %s)" % (where, self.message, self.code, self.exitcode))


def _failure(value):
    """The error object when value is a task's TaskError line, else None."""
    if isinstance(value, dict) and len(value) == 1 and isinstance(value.get("error"), dict):
        error = value["error"]
        if "code" in error and "message" in error:
            return error
    return None


def _raise_first(results):
    for i, value in enumerate(results):
        error = _failure(value)
        if error is not None:
            raise TaskError(error, i)
    return results


def _wait_job(pool_id, job, timeout):
    """The job's record once it has ended, or the last one seen when timeout passed (None: no limit)."""
    deadline = None if timeout is None else time.monotonic() + max(0.0, timeout)
    while True:
        left = WAIT_SLICE if deadline is None else min(WAIT_SLICE, max(0.0, deadline - time.monotonic()))
        record = request("GET", "/pools/%s/jobs/%s?wait=%.3f" % (pool_id, job, left), timeout=left + 60)
        if record.get("state") != "running" or (deadline is not None and time.monotonic() >= deadline):
            return record


class AsyncResult:
    """apply_async's and map_async's answer (multiprocessing.pool.AsyncResult)."""

    def __init__(self, pool_id, job, single, callback=None, error_callback=None):
        self._pool_id, self._job, self._single = pool_id, job, single
        self._record = None
        if callback is not None or error_callback is not None:
            threading.Thread(target=self._call_back, args=(callback, error_callback),
                             name="spawnd-pool-callback", daemon=True).start()

    def _call_back(self, callback, error_callback):
        try:
            value = self.get()
        except Exception as e:      # as Python's pool hands it over
            if error_callback is not None:
                error_callback(e)
            return
        if callback is not None:
            callback(value)

    def wait(self, timeout=None):
        if self._record is None:
            record = _wait_job(self._pool_id, self._job, timeout)
            if record.get("state") != "running":
                self._record = record

    def ready(self):
        if self._record is None:
            self.wait(0)
        return self._record is not None

    def successful(self):
        if not self.ready():
            raise ValueError("%r not ready" % self)
        return all(_failure(v) is None for v in self._record.get("results", []))

    def get(self, timeout=None):
        self.wait(timeout)
        if self._record is None:
            raise TimeoutError("the pool's job %s did not end within %s s" % (self._job, timeout))
        results = _raise_first(self._record.get("results", []))
        return results[0] if self._single else results


class IMapIterator:
    """imap's and imap_unordered's answer: the results stream, read as it
    comes and resumed after the last result seen when the connection drops."""

    def __init__(self, pool_id, job, total):
        self._path = "/pools/%s/jobs/%s/results?follow=true" % (pool_id, job)
        self._total, self._seen = total, 0
        self._conn = self._resp = None
        self._failures = 0
        self.connections = 0    # requests made for the stream (more than 1: it was resumed)

    def __iter__(self):
        return self

    def _line(self):
        """The next line of the stream, reconnecting with after= when it breaks."""
        while True:
            if self._resp is None:
                self._conn, self._resp = open_request("GET", "%s&after=%d" % (self._path, self._seen),
                                                      accept="application/x-ndjson")
                self.connections += 1
                if self._resp.status != 200:
                    body = self._resp.read()
                    self._close()
                    raise SpawndError(self._resp.status, "http_%d" % self._resp.status, body[:200].decode())
            try:
                line = self._resp.readline()
            except OSError:
                line = b""
            if line.strip():
                return json.loads(line)
            self._close()
            self._failures += 1
            if self._failures > STREAM_RETRIES:
                raise SpawndError(0, "stream_ended", "the results stream ended after %d of %d results"
                                  % (self._seen, self._total))

    def _close(self):
        if self._conn is not None:
            self._conn.close()
        self._conn = self._resp = None

    def __next__(self):
        while self._seen < self._total:
            line = self._line()
            if "index" not in line:
                continue            # a heartbeat
            self._seen += 1
            self._failures = 0
            error = _failure(line.get("result"))
            if error is not None:
                raise TaskError(error, line["index"])
            return line.get("result")
        self._close()
        raise StopIteration

    next = __next__


class _OutputRelay:
    """Relays the stderr of the processes of some server pools to ours (see the design note)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._pools, self._relayed, self._threads = set(), set(), []
        self._conn, resp = open_request("GET", "/events", accept="application/x-ndjson")
        # Closing the connection would wait for the reader's lock: finish()
        # shuts the socket down instead, which ends the reader's read.
        self._sock = self._conn.sock or getattr(getattr(resp.fp, "raw", None), "_sock", None)
        self._thread = threading.Thread(target=self._follow, args=(resp,), name="spawnd-pool-events",
                                        daemon=True)
        if resp.status == 200:      # a token that may not read events: join()'s sweep still relays
            self._thread.start()

    def add_pool(self, pool_id):
        with self._lock:
            self._pools.add(pool_id)

    def _follow(self, resp):
        pending = []    # started before their pool's id was known here
        try:
            for line in resp:
                event = json.loads(line) if line.strip() else {}
                process = event.get("process") or {}
                if event.get("event") == "started" and process.get("pool"):
                    pending.append(process)
                pending = [p for p in pending if not self._relay(p)][-1000:]
        except Exception:   # the connection closed by finish(), or the server gone
            pass

    def _relay(self, process):
        """Relays process's stderr if it is of our pools; False if its pool is not (yet) known."""
        from spawnd.multiprocessing import _relay
        with self._lock:
            if process.get("pool") not in self._pools:
                return False
            if process["id"] in self._relayed:
                return True
            self._relayed.add(process["id"])
            t = threading.Thread(target=_relay, args=("stderr", process["id"]),
                                 name="spawnd-%s-stderr" % process["id"], daemon=True)
            self._threads.append(t)
        t.start()
        return True

    def finish(self, targets):
        """Once every worker has ended: relays what the events thread has not
        reached (each follow ends when its process's output is drained),
        waits for every relay, and stops."""
        try:
            for target in targets:
                after = None
                while True:
                    page = request("GET", "/processes?target=%s&limit=1000%s"
                                   % (urllib.parse.quote(target), "&after=%s" % after if after else ""))
                    for p in page.get("processes", []):
                        self._relay(p)
                    after = page.get("next")
                    if not after:
                        break
        except SpawndError:
            pass            # a token that may not list processes: what the events thread relayed is all
        try:
            if self._sock is not None:
                self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        if self._thread.is_alive():
            self._thread.join(10)
        self._conn.close()
        with self._lock:
            threads, self._threads = self._threads, []
        for t in threads:
            t.join(10)


def _target_name(func):
    from spawnd.multiprocessing import _target_name as name
    return name(func)


def _one_argument(item):
    from spawnd.multiprocessing import _argument
    return [_argument(item)]


def _arguments(target, args, kwargs):
    from spawnd.multiprocessing import _call_arguments
    return _call_arguments(target, tuple(args), dict(kwargs or {}))


class Pool:
    """multiprocessing.Pool with spawnd's pools doing the work."""

    _counter = itertools.count(1)

    def __init__(self, processes=None, initializer=None, initargs=(), maxtasksperchild=None, context=None):
        if processes is not None and (not isinstance(processes, int) or processes < 1):
            raise ValueError("Number of processes must be at least 1")
        if maxtasksperchild is not None and (not isinstance(maxtasksperchild, int) or maxtasksperchild <= 0):
            raise ValueError("maxtasksperchild must be a positive int or None")
        self._processes, self._maxtasks = processes, maxtasksperchild
        self._initializer = None if initializer is None else _target_name(initializer)
        self._initargs = tuple(initargs)
        self._name = "Pool-%d" % next(Pool._counter)
        self._pools = {}        # target name -> server pool id
        self._state = "running"
        self._relay = _OutputRelay()
        _live.add(self)

    def _pool_for(self, func):
        if self._state != "running":
            raise ValueError("Pool not running")
        target = _target_name(func)
        if target not in self._pools:
            body = {"target": target, "processes": self._processes, "maxtasksperchild": self._maxtasks,
                    "name": "%s-%s" % (self._name, target) if self._pools else self._name}
            if self._initializer is not None:
                body["initializer"] = self._initializer
                body["initargs"] = _arguments(self._initializer, self._initargs, {})
            pool_id = request("POST", "/pools", body)["id"]
            self._relay.add_pool(pool_id)
            self._pools[target] = pool_id
        return self._pools[target]

    def _map(self, func, items, chunksize, ordered=True):
        pool_id = self._pool_for(func)
        body = {"items": list(items), "ordered": ordered}
        if chunksize is not None:
            body["chunksize"] = chunksize
        return pool_id, request("POST", "/pools/%s/map" % pool_id, body)

    # --- multiprocessing's API ---

    def map_async(self, func, iterable, chunksize=None, callback=None, error_callback=None):
        pool_id, job = self._map(func, (_one_argument(x) for x in iterable), chunksize)
        return AsyncResult(pool_id, job["job"], False, callback, error_callback)

    def starmap_async(self, func, iterable, chunksize=None, callback=None, error_callback=None):
        target = _target_name(func)
        pool_id, job = self._map(func, (_arguments(target, args, {}) for args in iterable), chunksize)
        return AsyncResult(pool_id, job["job"], False, callback, error_callback)

    def map(self, func, iterable, chunksize=None):
        return self.map_async(func, iterable, chunksize).get()

    def starmap(self, func, iterable, chunksize=None):
        return self.starmap_async(func, iterable, chunksize).get()

    def imap(self, func, iterable, chunksize=1):
        pool_id, job = self._map(func, (_one_argument(x) for x in iterable), chunksize)
        return IMapIterator(pool_id, job["job"], job["total"])

    def imap_unordered(self, func, iterable, chunksize=1):
        pool_id, job = self._map(func, (_one_argument(x) for x in iterable), chunksize, ordered=False)
        return IMapIterator(pool_id, job["job"], job["total"])

    def apply_async(self, func, args=(), kwds=None, callback=None, error_callback=None):
        pool_id = self._pool_for(func)
        job = request("POST", "/pools/%s/apply" % pool_id, {"args": _arguments(_target_name(func), args, kwds)})
        return AsyncResult(pool_id, job["job"], True, callback, error_callback)

    def apply(self, func, args=(), kwds=None):
        return self.apply_async(func, args, kwds).get()

    def close(self):
        """No more tasks; the ones given still run."""
        if self._state == "running":
            for pool_id in self._pools.values():
                request("POST", "/pools/%s/close" % pool_id)
            self._state = "closed"

    def terminate(self):
        """Ends every worker now (SIGTERM; jobs not done end "terminated") and waits for them."""
        if self._state in ("running", "closed"):
            for pool_id in self._pools.values():
                request("POST", "/pools/%s/terminate" % pool_id)
            self._state = "terminated"
        self.join()

    def join(self):
        """Waits for every worker to end, after close() or terminate()."""
        if self._state == "running":
            raise ValueError("Pool is still running")
        if self._state == "joined":
            return
        for pool_id in self._pools.values():
            while request("POST", "/pools/%s/join?timeout=%.0f" % (pool_id, WAIT_SLICE),
                          timeout=WAIT_SLICE + 60).get("workers"):
                pass
        targets = set(self._pools) | ({self._initializer} if self._initializer else set())
        self._relay.finish(sorted(targets))
        self._state = "joined"
        _live.discard(self)
        _joined.append(self)

    def __enter__(self):
        if self._state != "running":
            raise ValueError("Pool not running")
        return self

    def __exit__(self, *exc):
        self.terminate()

    def __repr__(self):
        return "<%s.%s state=%s pools=%s>" % (__name__, type(self).__name__, self._state, self._pools)


def _exit_function():
    """As multiprocessing's finalizers: pools still running are terminated;
    then every server pool is removed (its results are kept until then, so
    an AsyncResult still answers after join())."""
    for pool in list(_live):
        try:
            pool.terminate()
        except (OSError, SpawndError):
            pass
    for pool in _joined:
        for pool_id in pool._pools.values():
            try:
                request("DELETE", "/pools/%s" % pool_id, timeout=WAIT_SLICE + 60)
            except (OSError, SpawndError):
                pass


atexit.register(_exit_function)
