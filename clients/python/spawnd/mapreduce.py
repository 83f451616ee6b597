"""PyMOTW's SimpleMapReduce (multiprocessing_mapreduce.py) over spawnd's
POST /mapreduce: ``from spawnd.mapreduce import SimpleMapReduce`` in place
of the chapter's own module.

The chapter's class runs Pool.map for the map, partitions the pairs here,
and runs Pool.map again for the reduce. The server does all three (grouping
the pairs by key, sorted), so a word count of many words costs no request
per word. map_func and reduce_func are registered targets (names, or
functions named like them): the map returns [key, value] pairs for its
input, the reduce takes (key, value, value...) and returns the reduced
value. Calling the mapper answers [[key, reduced], ...] in key order; a
failed reduce raises TaskError, as Pool.map would.
"""

from spawnd._http import request
from spawnd._pool import WAIT_SLICE, TaskError, _failure

__all__ = ["SimpleMapReduce"]


def _name(func):
    from spawnd.multiprocessing import _target_name
    return _target_name(func)


class SimpleMapReduce:

    def __init__(self, map_func, reduce_func, num_workers=None):
        self.map_func, self.reduce_func = _name(map_func), _name(reduce_func)
        self.num_workers = num_workers

    def __call__(self, inputs, chunksize=1):
        body = {"map": self.map_func, "reduce": self.reduce_func, "inputs": list(inputs),
                "processes": self.num_workers, "chunksize": chunksize}
        job = request("POST", "/mapreduce?wait=%.0f" % WAIT_SLICE, body, timeout=WAIT_SLICE + 60)
        while job.get("state") == "running":
            job = request("GET", "/mapreduce/%s?wait=%.0f" % (job["job"], WAIT_SLICE), timeout=WAIT_SLICE + 60)
        if job.get("state") != "done":
            raise TaskError({"code": "mapreduce_failed", "message": job.get("error") or job.get("state")})
        for key, value in job.get("results", []):
            error = _failure(value)
            if error is not None:
                raise TaskError(dict(error, message="reduce of %r: %s" % (key, error.get("message"))))
        return [tuple(pair) for pair in job.get("results", [])]
