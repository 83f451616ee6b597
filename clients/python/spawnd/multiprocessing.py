"""multiprocessing's Process API, run by a spawnd server.

``from spawnd import multiprocessing`` in place of ``import multiprocessing``:
``Process(target=worker, args=(3,)).start()`` asks spawnd to run the
registered target named ``worker`` (a name, or a function whose ``__name__``
is one) and relays its output to this program's stdout and stderr as a
child's would be; ``join``, ``is_alive``, ``exitcode``, ``terminate``,
``kill`` and ``close`` behave as multiprocessing's, exceptions included.
At exit, daemon processes are terminated and the others joined, as
multiprocessing does. Queue, JoinableQueue, SimpleQueue, Event, Lock, RLock,
Condition, Semaphore, BoundedSemaphore, Barrier, Value and Manager are
spawnd's shared objects (_queues.py, _sync.py, _manager.py); Pool is spawnd's
/pools (_pool.py); Pipe is two queues (_pipe.py); Array raises NotImplementedError.

Design: a Process is a handle on one server record. Its name is chosen here
(``Process-N``, N counting this program's Process objects, as multiprocessing
does) so that it is known before start(). The output is followed from start()
by two daemon threads, one per stream, reading the raw bytes
(``Accept: application/octet-stream``), so bytes are exact and each stream
keeps its order; a follow ends when the process has ended and its pipes are
drained, so join() (and is_alive() or exitcode once they see the end) waits
for those threads: whatever the process printed is out before they return.

Arguments: a shared object goes as the string "spawnd:CLASS:NAME", made a
handle again in the worker (_worker.py). A subclass that overrides run() is
sent to the target named after the class (a python target whose function is
the class) with its own attributes pickled, and run() runs there.
"""
import atexit
import base64
import codecs
import itertools
import os
import pickle
import signal
import sys
import threading
import time

from spawnd import _objects     # first: its atexit removal runs after the children are joined
from spawnd._http import SpawndError, open_request, request, set_server
from spawnd._manager import Manager, Value
from spawnd._pipe import Pipe
from spawnd._pool import AsyncResult, Pool, TaskError
from spawnd._queues import JoinableQueue, Queue, SimpleQueue
from spawnd._sync import (Barrier, BoundedSemaphore, BrokenBarrierError, Condition, Event, Lock, RLock,
                          Semaphore)

__all__ = [
    "Process", "active_children", "current_process", "parent_process", "cpu_count",
    "set_server", "SpawndError", "TimeoutError", "ProcessError", "AuthenticationError",
    "Queue", "JoinableQueue", "SimpleQueue", "Pipe", "Event", "Lock", "RLock",
    "Condition", "Semaphore", "BoundedSemaphore", "Barrier", "Manager", "Pool",
    "Value", "Array", "BrokenBarrierError", "AsyncResult", "TaskError",
]

TimeoutError = TimeoutError  # multiprocessing.TimeoutError is the builtin's name here


class ProcessError(Exception):
    pass


class AuthenticationError(ProcessError):
    pass


JOIN_SLICE = 30.0      # seconds per join request; longer waits loop (the server caps a wait)
RELAY_GRACE = 10.0     # seconds to let the output relay finish once the process has ended

_counter = itertools.count(1)
_children = set()       # started, not yet joined or closed, by this program
_write_lock = threading.Lock()
_exitcode_to_name = {-s.value: "-" + s.name for s in signal.Signals}


def _argument(value):
    """A Process argument as the request carries it: a shared object by reference,
    this program's stdout or stderr as the worker's own (relayed here), another
    value that is not a JSON scalar pickled (_objects.from_reference)."""
    if isinstance(value, _objects.SharedObject):
        return value._reference()
    if value is sys.stdout or value is sys.stderr:
        return _objects.REFERENCE + "stream:" + ("stdout" if value is sys.stdout else "stderr")
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return _objects.REFERENCE + "pickle:" + base64.b64encode(pickle.dumps(value)).decode("ascii")


def _target_name(target):
    if isinstance(target, str):
        return target
    name = getattr(target, "__name__", None)
    if not isinstance(name, str):
        raise TypeError("target must be a registered target's name or a function named like one, not %r"
                        % (target,))
    return name


def _call_arguments(target, args, kwargs):
    """A call's args as the request carries them (Process, Pool.apply, starmap)."""
    args = [_argument(a) for a in args]
    kwargs = {k: _argument(v) for k, v in kwargs.items()}
    if not kwargs:
        return args
    if not args:
        return kwargs
    # Both: name the positional ones after the target's schema, as Python binds them.
    names = [a["name"] for a in request("GET", "/targets/%s" % target).get("args", [])]
    named = dict(zip(names, args))
    if len(args) > len(names):
        raise TypeError("%s() takes %d arguments but %d positional ones were given"
                        % (target, len(names), len(args)))
    for key, value in kwargs.items():
        if key in named:
            raise TypeError("%s() got multiple values for argument %r" % (target, key))
        named[key] = value
    return named


def _relay(stream_name, process_id):
    """Copies one output stream of the process to ours until it ends."""
    path = "/processes/%s/output?stream=%s&follow=true" % (process_id, stream_name)
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    try:
        conn, resp = open_request("GET", path, accept="application/octet-stream")
    except OSError:
        return
    try:
        if resp.status != 200:
            return
        while True:
            chunk = resp.read1(65536)
            if not chunk:
                break
            _write(stream_name, chunk, decoder)
    except OSError:
        pass
    finally:
        conn.close()


def _write(stream_name, data, decoder):
    """As a forked child writes: straight to the fd, past this program's own
    buffered output (flushed at start(), as multiprocessing flushes before a
    fork), so a line of ours is never cut by a child's."""
    with _write_lock:
        out = sys.stdout if stream_name == "stdout" else sys.stderr
        if out is None:
            return
        try:
            fd = out.fileno()
        except (AttributeError, OSError, ValueError):
            fd = None
        if fd is not None:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        else:
            out.write(decoder.decode(data))
            out.flush()


def _flush_std_streams():
    for out in (sys.stdout, sys.stderr):
        try:
            if out is not None:
                out.flush()
        except (AttributeError, OSError, ValueError):
            pass


class Process:
    """A registered target run by spawnd, with multiprocessing.Process's API."""

    def __init__(self, group=None, target=None, name=None, args=(), kwargs=None, *, daemon=None):
        assert group is None, "group argument must be None for now"
        count = next(_counter)
        self._init_state(name if name is not None else "%s-%d" % (type(self).__name__, count))
        self._target = target
        self._args = tuple(args)
        self._kwargs = dict(kwargs or {})
        self._daemon = bool(daemon) if daemon is not None else False

    _OWN = ("_target", "_args", "_kwargs", "_name", "_daemon", "_parent_pid", "_id", "_record",
            "_relays", "_closed")

    def _init_state(self, name):
        """The attributes of a Process not yet started (also a sent subclass's, in the worker)."""
        self._target, self._args, self._kwargs = None, (), {}
        self._name, self._daemon, self._parent_pid = name, False, os.getpid()
        self._id, self._record, self._relays, self._closed = None, None, [], False

    def _runs_itself(self):
        return type(self).run is not Process.run

    def _sent_state(self):
        """A subclass's own attributes, pickled (shared objects by name)."""
        state = {k: v for k, v in self.__dict__.items() if k not in Process._OWN}
        return "spawnd:process:" + base64.b64encode(pickle.dumps(state)).decode("ascii")

    @classmethod
    def _from_record(cls, record):
        """A handle on a process this program did not start (active_children())."""
        p = cls.__new__(cls)
        p._target, p._args, p._kwargs = record.get("target"), (), {}
        p._name, p._daemon = record.get("name"), bool(record.get("daemon"))
        p._parent_pid, p._id, p._record = os.getpid(), record["id"], record
        p._relays, p._closed = [], False
        return p

    # --- the record ---

    def _check_closed(self):
        if self._closed:
            raise ValueError("process object is closed")

    def _refresh(self):
        """The record, fetched again while it was last seen alive."""
        if self._record is not None and self._record.get("alive"):
            self._record = request("GET", "/processes/%s" % self._id)
        self._settle()
        return self._record

    def _settle(self):
        """Once the process has ended: its output is relayed before anyone hears of the end."""
        if self._record is not None and not self._record.get("alive"):
            deadline = time.monotonic() + RELAY_GRACE
            for t in self._relays:
                t.join(max(0.0, deadline - time.monotonic()))
            self._relays = []
            _children.discard(self)

    def _call_args(self, target):
        if self._runs_itself():
            return [self._sent_state()]
        return _call_arguments(target, self._args, self._kwargs)

    # --- multiprocessing's API ---

    def run(self):
        raise NotImplementedError("spawnd runs registered targets: a Process's run() cannot be overridden "
                                  "to run local code; register the function as a python target instead")

    def start(self):
        """Asks spawnd to run the target (POST /processes) and starts relaying its output."""
        self._check_closed()
        assert self._id is None, "cannot start a process twice"
        assert self._parent_pid == os.getpid(), "can only start a process object created by current process"
        if self._runs_itself():
            target = type(self).__name__
        elif self._target is None:
            raise ValueError("spawnd runs registered targets: give target= a target's name or a function named like one")
        else:
            target = _target_name(self._target)
        body = {"target": target, "args": self._call_args(target), "name": self._name, "daemon": self._daemon}
        _flush_std_streams()
        self._record = request("POST", "/processes", body)
        self._id = self._record["id"]
        _children.add(self)
        for stream_name in ("stdout", "stderr"):
            t = threading.Thread(target=_relay, args=(stream_name, self._id),
                                 name="spawnd-%s-%s" % (self._id, stream_name), daemon=True)
            t.start()
            self._relays.append(t)

    def join(self, timeout=None):
        """Waits until the process ends, or at most timeout seconds; returns None."""
        self._check_closed()
        assert self._parent_pid == os.getpid(), "can only join a child process"
        assert self._id is not None, "can only join a started process"
        deadline = None if timeout is None else time.monotonic() + max(0.0, timeout)
        while self._record.get("alive"):
            left = JOIN_SLICE
            if deadline is not None:
                left = min(left, deadline - time.monotonic())
                if left <= 0:
                    self._refresh()    # join(0) still looks once, as a poll
                    break
            self._record = request("POST", "/processes/%s/join?timeout=%.3f" % (self._id, left),
                                   timeout=left + 60)
        self._settle()

    def is_alive(self):
        self._check_closed()
        if self is _current:
            return True
        assert self._parent_pid == os.getpid(), "can only test a child process"
        if self._id is None:
            return False
        return bool(self._refresh().get("alive"))

    def _signal(self, action):
        self._check_closed()
        if self._id is not None:
            self._record = request("POST", "/processes/%s/%s" % (self._id, action))

    def terminate(self):
        """SIGTERM to the process's group."""
        self._signal("terminate")

    def kill(self):
        """SIGKILL to the process's group."""
        self._signal("kill")

    def close(self):
        """Releases the process and its record on the server (DELETE); ValueError while it runs."""
        if self._closed:
            return
        if self._id is not None:
            if self._refresh().get("alive"):
                raise ValueError("Cannot close a process while it is still running. "
                                 "You should first call join() or terminate().")
            try:
                request("DELETE", "/processes/%s" % self._id)
            except SpawndError as e:
                if e.status != 404:
                    raise
            _children.discard(self)
        self._closed = True

    @property
    def name(self):
        return self._name

    @name.setter
    def name(self, name):
        assert isinstance(name, str), "name must be a string"
        self._name = name

    @property
    def daemon(self):
        return self._daemon

    @daemon.setter
    def daemon(self, daemonic):
        assert self._id is None, "process has already started"
        self._daemon = bool(daemonic)

    @property
    def exitcode(self):
        """None while alive (or not started), else N after exit(N), -S after signal S."""
        self._check_closed()
        if self._id is None or self is _current:
            return None
        return self._refresh().get("exitcode")

    @property
    def ident(self):
        self._check_closed()
        if self is _current:
            return os.getpid()
        if self._id is None:
            return None
        if self._record.get("pid") is None and self._record.get("alive"):
            self._refresh()
        return self._record.get("pid")

    pid = ident

    @property
    def id(self):
        """spawnd's id of the process (None before start())."""
        return self._id

    @property
    def authkey(self):
        raise NotImplementedError("spawnd has no authkey: the server's tokens (SPAWND_TOKEN) play that part")

    @property
    def sentinel(self):
        raise NotImplementedError("spawnd processes have no local sentinel fd: use join(timeout)")

    def __repr__(self):
        exitcode = None
        if self is _current:
            status = "started"
        elif self._closed:
            status = "closed"
        elif self._id is None:
            status = "initial"
        else:
            record = self._refresh()
            exitcode = record.get("exitcode")
            status = "started" if record.get("alive") else "stopped"
        info = [type(self).__name__, "name=%r" % self._name]
        if self._id is not None and not self._closed and self is not _current:
            info.append("pid=%s" % self._record.get("pid"))
        info.append("parent=%s" % self._parent_pid)
        info.append(status)
        if exitcode is not None:
            info.append("exitcode=%s" % _exitcode_to_name.get(exitcode, exitcode))
        if self._daemon:
            info.append("daemon")
        return "<%s>" % " ".join(info)


class _WorkerProcess(Process):
    """current_process() inside a spawnd worker (SPAWND_PROCESS_ID/NAME), or the main program."""

    def __init__(self, name, process_id, parent_pid):
        self._target, self._args, self._kwargs = None, (), {}
        self._name, self._daemon, self._parent_pid = name, False, parent_pid
        self._id, self._record, self._relays, self._closed = process_id, None, [], False


class _MainProcess(_WorkerProcess):
    pass


if os.environ.get("SPAWND_PROCESS_ID"):
    _current = _WorkerProcess(os.environ.get("SPAWND_PROCESS_NAME", ""), os.environ["SPAWND_PROCESS_ID"], None)
else:
    _current = _MainProcess("MainProcess", None, None)


def current_process():
    """This program as a Process: inside a spawnd worker its name and id are the
    worker's (SPAWND_PROCESS_NAME, SPAWND_PROCESS_ID) and pid is os.getpid()."""
    return _current


def parent_process():
    """None: a spawnd worker's parent is the server, not a Python process."""
    return None


def active_children():
    """Every process alive on the server (GET /processes?alive=true): this
    program's own Process objects where it has them, handles for the others."""
    own = {p._id: p for p in _children}
    found, after = [], None
    while True:
        query = "/processes?alive=true&limit=1000" + ("&after=%s" % after if after else "")
        page = request("GET", query)
        for record in page.get("processes", []):
            p = own.get(record["id"])
            if p is None:
                p = Process._from_record(record)
            else:
                p._record = dict(p._record or {}, **record)
            found.append(p)
        after = page.get("next")
        if not after:
            break
    alive = {p._id for p in found}
    for p in list(_children):       # reap ours that ended, as multiprocessing does
        if p._id not in alive:
            p._refresh()
    return found


def cpu_count():
    """The CPU count of this machine (spawnd does not report the server's yet)."""
    n = os.cpu_count()
    if n is None:
        raise NotImplementedError("cannot determine number of cpus")
    return n


def _not_built(kind, why):
    def missing(*args, **kwargs):
        raise NotImplementedError("%s: %s" % (kind, why))
    missing.__name__ = kind
    return missing


Array = _not_built("Array", "not in spawnd's client yet (a Manager().dict() or a Value does its work)")


def _exit_function():
    """As multiprocessing at exit: terminate daemonic children, then join every child."""
    for p in list(_children):
        if p._daemon and not p._closed:
            try:
                p.terminate()
            except (OSError, SpawndError):
                pass
    for p in list(_children):
        if not p._closed:
            try:
                p.join()
            except (OSError, SpawndError):
                pass


atexit.register(_exit_function)
