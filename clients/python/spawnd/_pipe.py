"""multiprocessing.Pipe over two spawnd queues (one per direction).

A Connection is a pair of queue names (receive, send; one empty when the
pipe is one-way) and travels to a worker by them, as every shared object
does ("spawnd:Connection:RECV,SEND"). poll() takes the next item off the
queue and keeps it for recv(). Unlike an OS pipe, closing one end does not
make recv() at the other raise EOFError: the queues outlive the handles.
"""
import queue as _queue

from spawnd._objects import SharedObject, rebuild, shared
from spawnd._queues import Queue

_NOTHING = object()


@shared
class Connection(SharedObject):

    def _attach(self, name):
        self._name = name
        receive, send = name.split(",")
        self._in = rebuild("Queue", receive) if receive else None
        self._out = rebuild("Queue", send) if send else None
        self._kept, self._closed = _NOTHING, False

    def _check(self, end, what):
        if self._closed:
            raise OSError("handle is closed")
        if end is None:
            raise OSError("connection is write-only" if what == "read" else "connection is read-only")

    def send(self, obj):
        self._check(self._out, "write")
        self._out.put(obj)

    def recv(self):
        self._check(self._in, "read")
        if self._kept is not _NOTHING:
            obj, self._kept = self._kept, _NOTHING
            return obj
        return self._in.get()

    def poll(self, timeout=0.0):
        """True once an item is there to recv() (timeout None: wait for one)."""
        self._check(self._in, "read")
        if self._kept is _NOTHING:
            try:
                self._kept = self._in.get(timeout=timeout)
            except _queue.Empty:
                return False
        return True

    send_bytes = send
    recv_bytes = recv

    def close(self):
        self._closed = True

    @property
    def closed(self):
        return self._closed

    @property
    def readable(self):
        return self._in is not None

    @property
    def writable(self):
        return self._out is not None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def Pipe(duplex=True):
    """(conn1, conn2): with duplex, each sends to the other; without, conn1 only receives what conn2 sends."""
    a = Queue().name
    b = Queue().name if duplex else ""
    return rebuild("Connection", "%s,%s" % (a, b)), rebuild("Connection", "%s,%s" % (b, a) if duplex else ",%s" % a)
