"""spawnd's Python client: ``from spawnd import multiprocessing``.

``spawnd.multiprocessing`` is multiprocessing's Process API over a spawnd
server; ``SpawndError`` is what a refused request raises.
"""
from spawnd._http import SpawndError, set_server

__all__ = ["SpawndError", "set_server"]
