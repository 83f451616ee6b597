"""The target functions of the chapter's Process programs (PyMOTW 3,
multiprocessing basics), as python targets that tests/test_python_client.py
registers under their own names. Changed from the chapter only in the import
line (and worker is named_worker here: "worker" is a builtin target)."""
from spawnd import multiprocessing
import sys
import time


# multiprocessing_names.py
def named_worker():
    name = multiprocessing.current_process().name
    print(name, 'Starting')
    time.sleep(2)
    print(name, 'Exiting')


def my_service():
    name = multiprocessing.current_process().name
    print(name, 'Starting')
    time.sleep(3)
    print(name, 'Exiting')


# multiprocessing_daemon.py, multiprocessing_daemon_join.py, ..._join_timeout.py
def daemon():
    p = multiprocessing.current_process()
    print('Starting:', p.name, p.pid)
    sys.stdout.flush()
    time.sleep(2)
    print('Exiting :', p.name, p.pid)
    sys.stdout.flush()


def non_daemon():
    p = multiprocessing.current_process()
    print('Starting:', p.name, p.pid)
    sys.stdout.flush()
    print('Exiting :', p.name, p.pid)
    sys.stdout.flush()


# multiprocessing_terminate.py
def slow_worker():
    print('Starting worker')
    time.sleep(0.1)
    print('Finished worker')


# multiprocessing_exitcode.py
def exit_error():
    sys.exit(1)


def exit_ok():
    return


def return_value():
    return 1


def raises():
    raise RuntimeError('There was an error!')


def terminated():
    time.sleep(3)
