"""multiprocessing.Manager() over /namespaces: dict(), list(), Namespace() and Value.

Each proxy is one server namespace; a read is a GET (a copy, as a proxy's
is), a write a PUT of one key. Values travel in the queues' codec. Keys: a
Namespace's attributes are its keys; a dict's str key that is a key of the
server's form (letters, digits, "_", "." and "-", starting with a letter or
"_") is itself, an int key is its digits ("-" first when negative: "n-3"),
any other key is "_." and its pickle in unpadded url-safe base64.

Manager() itself holds no server (spawnd is the server): start() and
shutdown() are there for multiprocessing's code; shutdown() removes the
objects the manager made, as a manager's process takes its objects with it.
"""
import base64
import pickle
import re

from spawnd import _queues, _sync
from spawnd._http import SpawndError, request
from spawnd._objects import SharedObject, quote, shared

_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*\Z")


def encode_key(key):
    if isinstance(key, str) and _PLAIN_KEY.match(key) and not key.startswith("_."):
        return key
    if type(key) is int:
        return str(key) if key >= 0 else "n%d" % key
    return "_." + base64.urlsafe_b64encode(pickle.dumps(key)).decode("ascii").rstrip("=")


def decode_key(text):
    if text.startswith("_."):
        data = text[2:]
        return pickle.loads(base64.urlsafe_b64decode(data + "=" * (-len(data) % 4)))
    if re.fullmatch(r"[0-9]+|n-[0-9]+", text):
        return int(text.lstrip("n"))
    return text


class _Keys(SharedObject):
    KIND = "namespaces"

    def _key_path(self, key):
        return "%s/keys/%s" % (self._path, quote(key))

    def _get(self, key):
        """The value of a server key; KeyError when absent."""
        try:
            return _queues.decode(request("GET", self._key_path(key))["value"])
        except SpawndError as e:
            if e.status == 404:
                raise KeyError(key) from None
            raise

    def _set(self, key, value):
        request("PUT", self._key_path(key), _queues.encode(value))

    def _delete(self, key):
        try:
            request("DELETE", self._key_path(key))
        except SpawndError as e:
            if e.status == 404:
                raise KeyError(key) from None
            raise

    def _values(self):
        return self._describe().get("values", {})


@shared
class DictProxy(_Keys):
    """Manager().dict(): a dict whose items are the namespace's keys."""

    def __init__(self, *args, name=None, **kwargs):
        self._create(name, None)
        self.update(*args, **kwargs)

    def _copy(self):
        return {decode_key(k): _queues.decode(v) for k, v in self._values().items()}

    def __getitem__(self, key):
        return self._get(encode_key(key))

    def __setitem__(self, key, value):
        self._set(encode_key(key), value)

    def __delitem__(self, key):
        self._delete(encode_key(key))

    def __contains__(self, key):
        return key in self._copy()

    def __len__(self):
        return len(self._values())

    def __iter__(self):
        return iter(list(self._copy()))

    def get(self, key, default=None):
        try:
            return self[key]
        except KeyError:
            return default

    def setdefault(self, key, default=None):
        try:
            return self[key]
        except KeyError:
            self[key] = default
            return default

    def pop(self, key, *default):
        try:
            value = self[key]
        except KeyError:
            if default:
                return default[0]
            raise
        del self[key]
        return value

    def update(self, *args, **kwargs):
        for key, value in dict(*args, **kwargs).items():
            self[key] = value

    def clear(self):
        for key in list(self._values()):
            self._delete(key)

    def keys(self):
        return list(self._copy().keys())

    def values(self):
        return list(self._copy().values())

    def items(self):
        return list(self._copy().items())

    def copy(self):
        return self._copy()

    def __eq__(self, other):
        return self._copy() == (other._copy() if isinstance(other, DictProxy) else other)

    def __str__(self):
        return str(self._copy())

    __repr__ = __str__


@shared
class Namespace(_Keys):
    """Manager().Namespace(): attributes that are the namespace's keys."""

    def __init__(self, *, name=None, **kwargs):
        self._create(name, None)
        for key, value in kwargs.items():
            setattr(self, key, value)

    def __getattr__(self, key):
        if key.startswith("_"):
            raise AttributeError(key)
        try:
            return self._get(key)
        except KeyError:
            raise AttributeError("'Namespace' object has no attribute %r" % key) from None

    def __setattr__(self, key, value):
        if key.startswith("_"):
            object.__setattr__(self, key, value)
        else:
            self._set(key, value)

    def __delattr__(self, key):
        try:
            self._delete(key)
        except KeyError:
            raise AttributeError(key) from None

    def __repr__(self):
        values = {k: _queues.decode(v) for k, v in self._values().items()}
        return "Namespace(%s)" % ", ".join("%s=%r" % kv for kv in sorted(values.items()))


@shared
class ListProxy(_Keys):
    """Manager().list(): the whole list is the value of one key ("items"); a
    change is a read, the change and a write with If-Match, again on a 412, so
    two processes' appends are never lost."""

    def __init__(self, sequence=(), *, name=None):
        self._create(name, None)
        self._set("items", list(sequence))

    def _read(self):
        answer = request("GET", self._key_path("items"))
        return _queues.decode(answer["value"]), answer["version"]

    def _modify(self, change):
        while True:
            items, version = self._read()
            result = change(items)
            try:
                request("PUT", self._key_path("items"), _queues.encode(items),
                        headers={"If-Match": '"%d"' % version})
                return result
            except SpawndError as e:
                if e.status != 412:
                    raise

    def _copy(self):
        return self._read()[0]

    def append(self, value):
        self._modify(lambda items: items.append(value))

    def extend(self, values):
        values = list(values)
        self._modify(lambda items: items.extend(values))

    def insert(self, index, value):
        self._modify(lambda items: items.insert(index, value))

    def remove(self, value):
        self._modify(lambda items: items.remove(value))

    def pop(self, index=-1):
        return self._modify(lambda items: items.pop(index))

    def sort(self, **kwargs):
        self._modify(lambda items: items.sort(**kwargs))

    def reverse(self):
        self._modify(lambda items: items.reverse())

    def __setitem__(self, index, value):
        self._modify(lambda items: items.__setitem__(index, value))

    def __delitem__(self, index):
        self._modify(lambda items: items.__delitem__(index))

    def __getitem__(self, index):
        return self._copy()[index]

    def __len__(self):
        return len(self._copy())

    def __iter__(self):
        return iter(self._copy())

    def __contains__(self, value):
        return value in self._copy()

    def index(self, value, *args):
        return self._copy().index(value, *args)

    def count(self, value):
        return self._copy().count(value)

    def __eq__(self, other):
        return self._copy() == (other._copy() if isinstance(other, ListProxy) else other)

    def __str__(self):
        return str(self._copy())

    __repr__ = __str__


@shared
class Value(_Keys):
    """Value(typecode, value): one shared value (key "value"); get_lock() is its RLock."""

    def __init__(self, typecode, value=0, lock=True, *, name=None):
        self._create(name, None)
        self._typecode = typecode
        self._set("value", value)
        self._lock_obj = lock if isinstance(lock, (_sync.Lock, _sync.RLock)) else None

    def _attach(self, name):
        super()._attach(name)
        self._typecode, self._lock_obj = None, None

    @property
    def value(self):
        return self._get("value")

    @value.setter
    def value(self, value):
        self._set("value", value)

    def get_lock(self):
        if self._lock_obj is None:
            self._lock_obj = _sync.RLock(name=self._name + ".lock")
        return self._lock_obj

    def get(self):
        return self.value

    def set(self, value):
        self.value = value

    def __repr__(self):
        return "Value(%r, %r)" % (self._typecode, self.value)


class Manager:
    """multiprocessing.Manager(): makes proxies on the spawnd server."""

    def __init__(self, *args, **kwargs):
        self._objects = []

    def _make(self, obj):
        self._objects.append(obj)
        return obj

    def start(self, *args, **kwargs):
        pass

    def shutdown(self):
        for obj in reversed(self._objects):
            try:
                request("DELETE", obj._path)
            except (OSError, SpawndError):
                pass
        self._objects = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.shutdown()

    def dict(self, *args, **kwargs):
        return self._make(DictProxy(*args, **kwargs))

    def list(self, sequence=()):
        return self._make(ListProxy(sequence))

    def Namespace(self):
        return self._make(Namespace())

    def Value(self, typecode, value, lock=True):
        return self._make(Value(typecode, value, lock))

    def Queue(self, maxsize=0):
        return self._make(_queues.Queue(maxsize))

    def JoinableQueue(self, maxsize=0):
        return self._make(_queues.JoinableQueue(maxsize))

    def Event(self):
        return self._make(_sync.Event())

    def Lock(self):
        return self._make(_sync.Lock())

    def RLock(self):
        return self._make(_sync.RLock())

    def Condition(self, lock=None):
        return self._make(_sync.Condition(lock))

    def Semaphore(self, value=1):
        return self._make(_sync.Semaphore(value))

    def BoundedSemaphore(self, value=1):
        return self._make(_sync.BoundedSemaphore(value))

    def Barrier(self, parties, action=None, timeout=None):
        return self._make(_sync.Barrier(parties, action, timeout))
