"""multiprocessing's Queue, JoinableQueue and SimpleQueue over /queues, and
the codec their items (and a Manager's values) travel in.

Items: a value JSON keeps exactly (None, bool, int, float, str, and lists and
str-keyed dicts of them) goes as itself, so curl and other languages read
it; anything else (a tuple, a class instance, a shared object) is pickled, as
multiprocessing pickles every item, and goes as {"__spawnd_pickle__": BASE64}.
Unpickling runs code chosen by whoever put the item, as in multiprocessing:
share a queue only with programs you trust. A class defined in the caller's
__main__ is looked up in the worker's target module (set by _worker.py), where
the chapter's programs define the same classes.

A get is final (no lease), as in multiprocessing; task_done() without a
receipt finishes one item got from a JoinableQueue.
"""
import base64
import io
import math
import pickle
import queue as _queue
import sys

from spawnd._http import SpawndError, request
from spawnd._objects import Deadline, SharedObject, shared, wait_call

PICKLED = "__spawnd_pickle__"
main_module = None      # the worker's target module, for classes of the caller's __main__


def _plain(value):
    """True if JSON gives value back unchanged."""
    if value is None or isinstance(value, (bool, int, str)):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if type(value) is list:
        return all(_plain(v) for v in value)
    if type(value) is dict:
        return PICKLED not in value and all(isinstance(k, str) and _plain(v) for k, v in value.items())
    return False


def encode(value):
    if _plain(value):
        return value
    return {PICKLED: base64.b64encode(pickle.dumps(value)).decode("ascii")}


class _Unpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if module == "__main__" and main_module is not None and not hasattr(sys.modules["__main__"], name):
            module = main_module
        return super().find_class(module, name)


def unpickle(data):
    return _Unpickler(io.BytesIO(data)).load()


def decode(value):
    if isinstance(value, dict) and len(value) == 1 and isinstance(value.get(PICKLED), str):
        return unpickle(base64.b64decode(value[PICKLED]))
    return value


@shared
class Queue(SharedObject):
    KIND = "queues"

    def __init__(self, maxsize=0, *, name=None):
        self._create(name, {"maxsize": max(0, int(maxsize))})

    def _attach(self, name):
        super()._attach(name)
        self._closed = False

    def _check_closed(self):
        if self._closed:
            raise ValueError("Queue %r is closed" % self)

    def put(self, obj, block=True, timeout=None):
        """Puts obj; queue.Full when the queue stays full (block=False: at once)."""
        self._check_closed()
        answer = wait_call(self._path + "/put", {"item": encode(obj)}, Deadline(timeout if block else 0),
                           lambda a: not a.get("full"))
        if answer.get("full"):
            raise _queue.Full

    def get(self, block=True, timeout=None):
        """The oldest item; queue.Empty when none comes (block=False: at once)."""
        self._check_closed()
        answer = wait_call(self._path + "/get", None, Deadline(timeout if block else 0),
                           lambda a: "item" in a)
        if "item" not in answer:
            raise _queue.Empty
        return decode(answer["item"])

    def get_many(self, n, block=True, timeout=None):
        """Up to n (1 to 1000) oldest items in one request, waiting for the first only (an extension)."""
        self._check_closed()
        answer = wait_call("%s/get?max=%d" % (self._path, n), None, Deadline(timeout if block else 0),
                           lambda a: a.get("items"))
        if not answer.get("items"):
            raise _queue.Empty
        return [decode(item) for item in answer["items"]]

    def put_nowait(self, obj):
        return self.put(obj, False)

    def get_nowait(self):
        return self.get(False)

    def qsize(self):
        return self._describe().get("size", 0)

    def empty(self):
        return self.qsize() == 0

    def full(self):
        info = self._describe()
        return bool(info.get("maxsize")) and info.get("size", 0) >= info["maxsize"]

    def close(self):
        """This handle puts and gets no more (the server's queue stays for others)."""
        self._closed = True

    def join_thread(self):
        """Nothing to wait for: every put() is on the server when it returns."""

    def cancel_join_thread(self):
        pass


@shared
class JoinableQueue(Queue):
    def task_done(self):
        try:
            request("POST", self._path + "/task_done", {})
        except SpawndError as e:
            if e.status == 409:
                raise ValueError("task_done() called too many times") from None
            raise

    def join(self):
        """Waits until every item put has been got and marked task_done()."""
        wait_call(self._path + "/join", None, Deadline(None), lambda a: a.get("unfinished") == 0)


@shared
class SimpleQueue(Queue):
    def __init__(self, *, name=None):
        super().__init__(0, name=name)
