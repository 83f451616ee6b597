"""The worker side of a python target (targets/exec_load_python.c's runner
calls prepare() when spawnd's client is on the target's path): arguments
that name shared objects become handles again, and a Process subclass's
instance sent by start() runs its own run().

Shared objects travel as "spawnd:CLASS:NAME" strings (_objects.py). A
Process subclass that overrides run() is sent to the target named after the
class, registered as a python target whose function is the class itself,
with one argument: its pickled attributes (spawnd:process:BASE64); here the
instance is made without calling __init__, given them back, and run.
"""
import base64
import sys

from spawnd import _manager, _objects, _pipe, _queues, _sync  # noqa: F401 (each registers its classes)

PROCESS = "spawnd:process:"


def _run_instance(cls, state):
    from spawnd import multiprocessing
    obj = cls.__new__(cls)
    multiprocessing.Process._init_state(obj, multiprocessing.current_process().name)
    obj.__dict__.update(state)

    def run():
        return obj.run()
    return run


def prepare(fn, args, kwargs):
    """(fn, args, kwargs) to call: references rebuilt, a sent Process instance unpacked."""
    _queues.main_module = getattr(fn, "__module__", None)
    if _queues.main_module in sys.modules:
        sys.modules.setdefault("__mp_main__", sys.modules[_queues.main_module])
    if isinstance(fn, type) and len(args) == 1 and isinstance(args[0], str) and args[0].startswith(PROCESS):
        state = _queues.unpickle(base64.b64decode(args[0][len(PROCESS):]))
        return _run_instance(fn, state), [], {}
    args = [_objects.from_reference(a) for a in args]
    kwargs = {k: _objects.from_reference(v) for k, v in kwargs.items()}
    return fn, args, kwargs
