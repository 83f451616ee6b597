"""Python target functions for `make run` (examples/targets.json, "python" form).

Each runs in a fresh python3 (`python3 -I`, this folder first on sys.path) with
the request's validated arguments; see the README's "Python target functions".
"""
def worker(num):
    """The chapter's worker: prints "Worker: N"."""
    print('Worker:', num)


def square(x):
    """Returns x * x (a "returns": "json" target: stdout is the JSON result)."""
    return x * x

