"""Targets of tests/test_python_client.py's shared-object cases (not the
chapter's): workers that take grants with their own SPAWND_TOKEN."""
import time


def hold_lock(lock, seconds):
    """Takes lock (a worker's grant: no lease) and keeps it for seconds."""
    lock.acquire()
    time.sleep(seconds)


def echo_kinds(q, values):
    """Puts the types the worker received back on q (what arrived as what)."""
    q.put([type(q).__name__, type(values).__name__, values])


def pipe_echo(conn):
    """Receives a Connection end; sends back twice each item until None."""
    while True:
        item = conn.recv()
        if item is None:
            return
        conn.send(item * 2)
