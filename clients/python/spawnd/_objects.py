"""What every shared object of the client has in common: a name on the
server, who owns its grants, long waits, and how it travels to a worker.

Design: a shared object (Queue, Lock, Manager().dict(), ...) is a handle on
one server object, /{kind}/{name}. multiprocessing's objects have no names,
so one made here gets a fresh one ("py-" and 16 hex digits), is created with
PUT and removed with DELETE when the program that made it exits (as
multiprocessing's vanish with their maker); one given name= is shared by
name and left in place.

Owners: inside a worker (SPAWND_PROCESS_ID and SPAWND_TOKEN in the
environment) the server knows the caller by its token, so a grant needs no
lease and is released when the worker ends. Outside, every grant takes a
lease of LEASE seconds that a daemon thread renews every LEASE/3 seconds
while it is held; if this program dies, the grants lapse with the lease.

Waits: the server caps every ?timeout= (300 s by default), so a wait with no
timeout or a longer one loops in slices of at most SLICE seconds until its
deadline.

Travel: a handle pickles as (class, name) and is rebuilt by name (rebuild());
as a Process argument it is the string "spawnd:CLASS:NAME", which the python
target runner turns back into a handle (_worker.py).
"""
import atexit
import secrets
import threading
import time
import urllib.parse

from spawnd._http import SpawndError, request, server

LEASE = 30.0        # seconds an outside client's grant lasts unless renewed
SLICE = 60.0        # seconds per waiting request; longer waits loop
REFERENCE = "spawnd:"

_classes = {}       # class name -> class, for rebuild()
_made = []          # (path) of objects this program created, removed at exit
_made_lock = threading.Lock()


def in_worker():
    """True inside a spawnd worker talking to its own server with its own token."""
    import os
    url, token = server()
    return bool(os.environ.get("SPAWND_PROCESS_ID")) and token is not None and \
        token == os.environ.get("SPAWND_TOKEN")


def quote(text):
    return urllib.parse.quote(str(text), safe="")


def shared(cls):
    """Class decorator: rebuild() may make it by name."""
    _classes[cls.__name__] = cls
    return cls


def rebuild(class_name, name):
    """The handle on an existing object (a pickled or passed one)."""
    cls = _classes.get(class_name)
    if cls is None:
        raise ValueError("spawnd: unknown shared object class %r" % class_name)
    obj = cls.__new__(cls)
    obj._attach(name)
    return obj


def from_reference(text):
    """"spawnd:CLASS:NAME" as a handle, "spawnd:stream:stdout" (or stderr) as
    this worker's stream, "spawnd:pickle:BASE64" unpickled; other values as
    they are."""
    if not (isinstance(text, str) and text.startswith(REFERENCE)):
        return text
    parts = text.split(":", 2)
    if len(parts) != 3:
        return text
    if parts[1] in _classes:
        return rebuild(parts[1], parts[2])
    if parts[1] == "stream" and parts[2] in ("stdout", "stderr"):
        import sys
        return getattr(sys, parts[2])
    if parts[1] == "pickle":
        from spawnd._queues import unpickle
        import base64
        return unpickle(base64.b64decode(parts[2]))
    return text


class Deadline:
    """A timeout as a deadline: None waits for ever, 0 or less only looks."""

    def __init__(self, timeout):
        self.at = None if timeout is None else time.monotonic() + max(0.0, float(timeout))

    def slice(self):
        """Seconds for the next request: at most SLICE, 0 once passed."""
        if self.at is None:
            return SLICE
        left = self.at - time.monotonic()
        return max(0.0, min(SLICE, left))

    def passed(self):
        return self.at is not None and time.monotonic() >= self.at


def wait_call(path, body, deadline, done):
    """POSTs path?timeout=S until done(answer) or the deadline; the last answer.
    A timeout of 0 still asks once."""
    while True:
        seconds = deadline.slice()
        sep = "&" if "?" in path else "?"
        answer = request("POST", "%s%stimeout=%.3f" % (path, sep, seconds), body, timeout=seconds + 60)
        if done(answer) or deadline.passed() or seconds == 0:
            return answer


class SharedObject:
    """A handle on /{KIND}/{name}; subclasses set KIND and options()."""
    KIND = None

    def _create(self, name, options):
        made = name is None
        if made:
            name = "py-" + secrets.token_hex(8)
        self._attach(name)
        try:
            request("PUT", self._path, options)
        except SpawndError as e:
            if not (e.status == 409 and not made):
                raise
            raise ValueError("%s %r exists with other options: %s" % (type(self).__name__, name, e.message))
        if made:
            with _made_lock:
                _made.append(self._path)

    def _attach(self, name):
        self._name = name
        self._path = "/%s/%s" % (self.KIND, quote(name))

    @property
    def name(self):
        """The object's name on the server (give it as name= to share it by name)."""
        return self._name

    def _describe(self):
        return request("GET", self._path)

    def _reference(self):
        return "%s%s:%s" % (REFERENCE, type(self).__name__, self._name)

    def __reduce__(self):
        return (rebuild, (type(self).__name__, self._name))

    def __repr__(self):
        return "<%s %s>" % (type(self).__name__, self._name)


class Grants:
    """The outside client's leases, renewed by one daemon thread while held."""

    def __init__(self):
        self._held = {}         # (path, owner) -> count
        self._lock = threading.Lock()
        self._wake = threading.Event()      # a new grant: renew on its lease's schedule
        self._thread = None

    def add(self, path, owner):
        if owner is None:
            return
        with self._lock:
            self._held[(path, owner)] = self._held.get((path, owner), 0) + 1
            self._wake.set()
            if self._thread is None:
                self._thread = threading.Thread(target=self._renew_loop, name="spawnd-leases", daemon=True)
                self._thread.start()

    def drop(self, path, owner, all_of_it=False):
        with self._lock:
            n = self._held.get((path, owner), 0) - 1
            if n <= 0 or all_of_it:
                self._held.pop((path, owner), None)
            else:
                self._held[(path, owner)] = n

    def _renew_loop(self):
        while True:
            if self._wake.wait(LEASE / 3):
                self._wake.clear()
                continue
            with self._lock:
                held = list(self._held)
            for path, owner in held:
                try:
                    request("POST", path + "/renew", {"owner": owner, "lease": LEASE})
                except SpawndError as e:
                    if e.status in (404, 409):      # lost or removed: nothing to renew
                        self.drop(path, owner, all_of_it=True)
                except OSError:
                    pass                            # the next round tries again


grants = Grants()


def acquire_body(owner=None):
    """The body of an acquire: a lease outside a worker; owner to re-enter."""
    body = {}
    if not in_worker():
        body["lease"] = LEASE
        if owner is not None:
            body["owner"] = owner
    return body


def _remove_made():
    with _made_lock:
        paths, _made[:] = list(_made), []
    for path in reversed(paths):
        try:
            request("DELETE", path, timeout=10)
        except (OSError, SpawndError):
            pass


atexit.register(_remove_made)
