"""multiprocessing's synchronization primitives over /sync/*: Event, Lock,
RLock, Condition, Semaphore, BoundedSemaphore and Barrier.

Ownership (see _objects.py): an outside client's grant is a leased owner id
the server names in its acquire answer. A Lock or Semaphore keeps the owners
it holds in a stack, so any thread may release (as multiprocessing allows);
an RLock keeps one owner per thread and re-enters by sending it back. Inside
a worker the token is the owner, so no owner travels.
"""
import threading
import time

from spawnd._http import SpawndError, request
from spawnd._objects import (Deadline, SharedObject, acquire_body, grants, in_worker, rebuild,
                             shared, wait_call)

BrokenBarrierError = threading.BrokenBarrierError


def _block_timeout(block, timeout):
    return Deadline(timeout if block else 0)


@shared
class Event(SharedObject):
    KIND = "sync/events"

    def __init__(self, *, name=None):
        self._create(name, None)

    def is_set(self):
        return bool(self._describe().get("set"))

    def set(self):
        request("POST", self._path + "/set")

    def clear(self):
        request("POST", self._path + "/clear")

    def wait(self, timeout=None):
        """True once set; False at the timeout (None: wait for ever)."""
        answer = wait_call(self._path + "/wait", None, Deadline(timeout), lambda a: a.get("set"))
        return bool(answer.get("set"))


class _Grantable(SharedObject):
    """Acquire/release with owners: the part locks and semaphores share."""

    def _attach(self, name):
        super()._attach(name)
        self._owners = []               # outside: the owners this program holds
        self._owners_lock = threading.Lock()

    def _acquire(self, deadline, owner=None):
        answer = wait_call(self._path + "/acquire", acquire_body(owner), deadline,
                           lambda a: a.get("acquired"))
        if not answer.get("acquired"):
            return None
        owner = answer.get("owner") if not in_worker() else None
        grants.add(self._path, owner)
        return answer, owner

    def _release(self, owner):
        answer = request("POST", self._path + "/release", {"owner": owner} if owner else {})
        grants.drop(self._path, owner)
        return answer

    def acquire(self, block=True, timeout=None):
        got = self._acquire(_block_timeout(block, timeout))
        if got is None:
            return False
        with self._owners_lock:
            self._owners.append(got[1])
        return True

    def release(self):
        with self._owners_lock:
            owner = self._owners.pop() if self._owners else None
        try:
            self._release(owner)
        except SpawndError as e:
            if e.status == 409 or (e.status == 400 and owner is None):    # not held, or no owner to name
                raise ValueError("semaphore or lock released too many times") from None
            raise

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()

    def _held_here(self):
        return bool(self._owners)


@shared
class Lock(_Grantable):
    KIND = "sync/locks"
    REENTRANT = False

    def __init__(self, *, name=None):
        self._create(name, {"reentrant": self.REENTRANT})

    def _owner(self):
        """The owner to wait on a condition with (None in a worker)."""
        with self._owners_lock:
            return self._owners[-1] if self._owners else None

    def _rehold(self, old, new):
        """A condition's wait gave the grant back under owner new."""
        with self._owners_lock:
            if old in self._owners:
                self._owners.remove(old)
            self._owners.append(new)


@shared
class RLock(Lock):
    """A reentrant lock: one owner per thread, re-entered by sending it back."""
    REENTRANT = True

    def _attach(self, name):
        super()._attach(name)
        self._local = threading.local()

    def acquire(self, block=True, timeout=None):
        depth = getattr(self._local, "depth", 0)
        got = self._acquire(_block_timeout(block, timeout), getattr(self._local, "owner", None))
        if got is None:
            return False
        self._local.owner, self._local.depth = got[1], depth + 1
        return True

    def release(self):
        depth = getattr(self._local, "depth", 0)
        if depth == 0 and not in_worker():
            raise AssertionError("attempt to release recursive lock not owned by thread")
        try:
            self._release(getattr(self._local, "owner", None))
        except SpawndError as e:
            if e.status == 409:
                raise AssertionError("attempt to release recursive lock not owned by thread") from None
            raise
        self._local.depth = max(0, depth - 1)
        if self._local.depth == 0:
            self._local.owner = None

    def _owner(self):
        return getattr(self._local, "owner", None)

    def _rehold(self, old, new):
        self._local.owner = new

    def _held_here(self):
        return getattr(self._local, "depth", 0) > 0 or in_worker()


@shared
class Condition(SharedObject):
    """A condition bound to a Lock or RLock (a new RLock when none is given)."""
    KIND = "sync/conditions"

    def __init__(self, lock=None, *, name=None):
        self._lock = lock if lock is not None else RLock()
        self._create(name, {"lock": self._lock.name})

    def _attach(self, name):
        super()._attach(name)
        if not hasattr(self, "_lock"):       # rebuilt: the lock it names
            lock = self._describe().get("lock")
            reentrant = request("GET", "/sync/locks/%s" % lock).get("reentrant")
            self._lock = rebuild("RLock" if reentrant else "Lock", lock)

    def acquire(self, block=True, timeout=None):
        return self._lock.acquire(block, timeout)

    def release(self):
        self._lock.release()

    __enter__ = acquire

    def __exit__(self, *exc):
        self.release()

    def _check_owned(self):
        if not in_worker() and not self._lock._held_here():
            raise AssertionError("lock is not owned")

    def wait(self, timeout=None):
        """Releases the lock, waits for a notify (or the timeout), holds it again."""
        self._check_owned()
        owner = self._lock._owner()
        deadline = Deadline(timeout)
        while True:
            body = acquire_body(owner)
            if owner:
                grants.drop(self._lock._path, owner, all_of_it=True)
            seconds = deadline.slice()
            # No socket timeout: after a notify (or its own timeout) the waiter takes
            # the lock again, which has no deadline, as in multiprocessing.
            answer = request("POST", "%s/wait?timeout=%.3f" % (self._path, seconds), body, timeout=None)
            new = answer.get("owner") if not in_worker() else None
            if new:
                grants.add(self._lock._path, new)
                self._lock._rehold(owner, new)
            owner = new
            if answer.get("notified") or deadline.passed() or seconds == 0:
                return bool(answer.get("notified"))

    def wait_for(self, predicate, timeout=None):
        result = predicate()
        deadline = Deadline(timeout)
        while not result:
            if deadline.passed():
                break
            self.wait(None if deadline.at is None else deadline.at - time.monotonic())
            result = predicate()
        return result

    def notify(self, n=1):
        self._check_owned()
        request("POST", self._path + "/notify", {"n": n})

    def notify_all(self):
        self._check_owned()
        request("POST", self._path + "/notify_all", {})


@shared
class Semaphore(_Grantable):
    KIND = "sync/semaphores"
    BOUNDED = False

    def __init__(self, value=1, *, name=None):
        if value < 0:
            raise ValueError("semaphore initial value must be >= 0")
        self._create(name, {"value": value, "bounded": self.BOUNDED})

    def get_value(self):
        return self._describe().get("value")


@shared
class BoundedSemaphore(Semaphore):
    BOUNDED = True


@shared
class Barrier(SharedObject):
    """threading.Barrier's API; the action runs in the waiter given index 0.
    A wait longer than the server's cap breaks the barrier, as a timeout does."""
    KIND = "sync/barriers"

    def __init__(self, parties, action=None, timeout=None, *, name=None):
        self._action, self._timeout = action, timeout
        self._create(name, {"parties": parties})

    def _attach(self, name):
        super()._attach(name)
        if not hasattr(self, "_action"):
            self._action, self._timeout = None, None

    def wait(self, timeout=None):
        if timeout is None:
            timeout = self._timeout
        seconds = 1e9 if timeout is None else max(0.0, timeout)
        answer = request("POST", "%s/wait?timeout=%.3f" % (self._path, seconds), None, timeout=None)
        if answer.get("broken") or "index" not in answer:
            raise BrokenBarrierError
        if answer["index"] == 0 and self._action is not None:
            self._action()
        return answer["index"]

    def reset(self):
        request("POST", self._path + "/reset")

    def abort(self):
        request("POST", self._path + "/abort")

    @property
    def parties(self):
        return self._describe().get("parties")

    @property
    def n_waiting(self):
        return self._describe().get("waiting")

    @property
    def broken(self):
        return bool(self._describe().get("broken"))
