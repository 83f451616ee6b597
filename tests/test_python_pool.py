#!/usr/bin/python3
"""spawnd.multiprocessing.Pool and spawnd.mapreduce against a real spawnd:
the chapter's pool program (tests/python/chapter/multiprocessing_pool.py,
PyMOTW's, changed only in its import line) and its word count
(multiprocessing_wordcount.py: the import lines, the target names and the
inputs, examples/texts/*.txt) print what the chapter shows, and Pool's API
behaves as multiprocessing's (results, errors, timeouts, a closed pool, the
context manager, an imap stream resumed after its connection broke), and
Pipe's ends talk to each other and to a worker.

Same server and PASS/FAIL lines as tests/test_python_client.py (its helpers).
"""
import collections
import importlib.util
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_python_client as base  # noqa: E402
from test_python_client import CHAPTER, CLIENT, REPO, case, check, expect  # noqa: E402

from spawnd import SpawndError, multiprocessing  # noqa: E402
from spawnd._http import request  # noqa: E402

TEXTS = os.path.join(REPO, "examples", "texts")


def run_chapter(name, cwd):
    env = dict(os.environ, PYTHONPATH=CLIENT, SPAWND_URL=URL)
    env.pop("SPAWND_TOKEN", None)
    done = subprocess.run([sys.executable, os.path.join(CHAPTER, name)], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=120)
    check(done.returncode == 0, "%s: exit %d, stderr %r" % (name, done.returncode, done.stderr))
    return done.stdout, done.stderr


# --- the chapter's programs ---

def test_pool_program():
    out, err = run_chapter("multiprocessing_pool.py", CHAPTER)
    out = re.sub(r"0x[0-9a-f]+", "0xADDR", out)
    check(out == "Input   : [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]\nBuilt-in: <map object at 0xADDR>\n"
                 "Pool    : [0, 2, 4, 6, 8, 10, 12, 14, 16, 18]\n", "stdout:\n" + out)
    # The initializer's lines: what a pool worker prints reaches us as its stderr
    # (its stdout carries the results). A worker starts when there is work for
    # it, so up to the pool's size say hello, each once, all before join() returned.
    names = [m.group(1) for m in re.finditer(r"^Starting (Pool-1-Worker-\d+)$", err, re.M)]
    size = multiprocessing.cpu_count() * 2
    check(err.count("\n") == len(names) and 1 <= len(names) <= size and len(set(names)) == len(names),
          "stderr:\n" + err)


def chapter_word_counts():
    """The oracle: the chapter's own file_to_words (from the program) over every file, summed."""
    spec = importlib.util.spec_from_file_location("wordcount", os.path.join(CHAPTER, "multiprocessing_wordcount.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    counts = collections.Counter()
    for name in sorted(os.listdir(TEXTS)):
        if name.endswith(".txt"):
            for word, n in _quiet(module.file_to_words, os.path.join(TEXTS, name)):
                counts[word] += n
    return counts


def _quiet(fn, *args):
    stdout, sys.stdout = sys.stdout, open(os.devnull, "w")
    try:
        return fn(*args)
    finally:
        sys.stdout.close()
        sys.stdout = stdout


def test_wordcount_program():
    out, err = run_chapter("multiprocessing_wordcount.py", TEXTS)
    check(err == "", "stderr %r" % err)
    head = "\nTOP 20 WORDS BY FREQUENCY\n\n"
    check(out.startswith(head), "stdout:\n" + out)
    lines = out[len(head):].splitlines()
    counts = chapter_word_counts()
    top = sorted(counts.values(), reverse=True)[:20]
    check(len(lines) == 20, "stdout:\n" + out)
    width = max(len(l.split(":")[0].rstrip()) for l in lines) + 1
    got = []
    for line in lines:
        m = re.fullmatch(r"([a-z]+) *: *(\d+)", line)
        check(m and line.index(":") == width and len(line) == width + 7, "line %r in:\n%s" % (line, out))
        check(counts[m.group(1)] == int(m.group(2)), "%s: the chapter counts %d" % (line, counts[m.group(1)]))
        got.append(int(m.group(2)))
    check(got == top, "counts %r, the chapter's top 20 %r" % (got, top))


# --- Pool's API, as multiprocessing's ---

def square(x):
    """A local function named like the builtin target: Pool sends its name."""
    return x * x


def test_map_starmap_apply():
    with multiprocessing.Pool(2) as pool:
        check(pool.map(square, range(7)) == [x * x for x in range(7)], "map")
        check(pool.map(square, [], chunksize=3) == [], "empty map")
        check(pool.starmap("square", [(2,), (3,)]) == [4, 9], "starmap")
        check(pool.apply("square", (12,)) == 144 and pool.apply(square, kwds={"x": 5}) == 25, "apply")
        check(sorted(pool.imap_unordered(square, range(20))) == [x * x for x in range(20)], "imap_unordered")
        check(list(pool.imap(square, range(20), chunksize=3)) == [x * x for x in range(20)], "imap")
        r = pool.map_async(square, range(5))
        check(r.get(60) == [0, 1, 4, 9, 16] and r.ready() and r.successful(), "map_async")
        got = []
        r = pool.apply_async("square", (9,), callback=got.append)
        r.wait(60)
        deadline = time.monotonic() + 30
        while not got and time.monotonic() < deadline:
            time.sleep(0.01)
        check(got == [81], "callback got %r" % got)


def test_failed_tasks_raise():
    pool = multiprocessing.Pool(2)
    e = expect(multiprocessing.TaskError, lambda: pool.apply("exit", (3,)))
    check(e.code == "exit" and e.exitcode == 3 and e.message and e.message in str(e), "apply: %r" % e)
    e = expect(multiprocessing.TaskError, lambda: pool.starmap("exit", [(0,), (0,), (4,), (0,)]))
    check(e.index == 2 and e.exitcode == 4, "starmap: %s" % e)
    it = pool.imap("exit", [0, 5, 0])
    check(next(it) == "", "first result")
    expect(multiprocessing.TaskError, lambda: next(it), "exit code 5")
    check(next(it) == "" and list(it) == [], "imap goes on after a failed item")
    r = pool.apply_async("exit", (6,))
    r.wait(60)
    check(r.ready() and not r.successful(), "unsuccessful")
    e = expect(SpawndError, lambda: pool.apply("exit", ("three",)))
    check(e.status == 400 and e.code == "invalid_argument", "bad args: %s" % e)
    pool.close()
    pool.join()


def test_timeouts_and_states():
    pool = multiprocessing.Pool(1)
    r = pool.apply_async("sleep", (30,))
    expect(ValueError, r.successful, "not ready")
    started = time.monotonic()
    expect(TimeoutError, lambda: r.get(timeout=0.3))
    check(time.monotonic() - started >= 0.3 and not r.ready(), "get(0.3) returned early")
    expect(ValueError, pool.join, "Pool is still running")
    pool.close()
    expect(ValueError, lambda: pool.map(square, [1]), "Pool not running")
    expect(ValueError, lambda: pool.apply_async("square", (1,)), "Pool not running")
    pool.terminate()
    e = expect(multiprocessing.TaskError, r.get)
    check(e.code in ("terminated", "signal", "terminate"), "after terminate: %s" % e)
    ids = list(pool._pools.values())
    record = request("GET", "/pools/%s" % ids[0])
    check(record["state"] == "terminated" and record["workers"] == [], "pool: %r" % record)


def test_context_manager_terminates():
    with multiprocessing.Pool(2, initializer="sleep", initargs=(0,), maxtasksperchild=1) as pool:
        pool.apply_async("sleep", (60,))
        check(pool.map(square, range(4)) == [0, 1, 4, 9], "map")
        pool_id = pool._pools["sleep"]
    record = request("GET", "/pools/%s" % pool_id)
    check(record["state"] == "terminated" and record["workers"] == [], "after with: %r" % record)
    check(record["maxtasksperchild"] == 1 and record["initializer"] == "sleep", "pool: %r" % record)
    expect(ValueError, lambda: pool.map(square, [1]), "Pool not running")
    expect(ValueError, lambda: pool.__enter__(), "Pool not running")
    expect(ValueError, lambda: multiprocessing.Pool(0), "at least 1")


def test_imap_resumes_after_a_broken_stream():
    # One worker, replaced after each task and sleeping in its initializer
    # first: the results come slowly, so most are not sent yet when the
    # stream's connection is cut under the iterator; it reconnects with after=.
    with multiprocessing.Pool(1, initializer="sleep", initargs=(0.05,), maxtasksperchild=1) as pool:
        it = pool.imap("echo", [str(i) for i in range(12)])
        first = [next(it), next(it), next(it)]
        it._conn.sock.shutdown(socket.SHUT_RDWR)
        rest = list(it)
        check(first + rest == ["%d\n" % i for i in range(12)], "resumed: %r" % (first + rest))
        check(it.connections >= 2, "the stream was not cut: %d connection(s)" % it.connections)


def test_mapreduce_errors():
    from spawnd.mapreduce import SimpleMapReduce
    e = expect(SpawndError, lambda: SimpleMapReduce("wordcount_map", "wordcount_reduce")(["../etc/passwd"]))
    check(e.status == 400, "bad input: %s" % e)
    counts = SimpleMapReduce("wordcount_map", "wordcount_reduce", 2)(["GPL-3.txt"])
    check(dict(counts) == {w: n for w, n in chapter_word_counts_of("GPL-3.txt").items()}, "GPL-3 counts")


def test_pipe():
    a, b = multiprocessing.Pipe()
    check(not a.poll() and not a.poll(0.2), "an empty pipe polls False")
    b.send([1, "x"])
    b.send_bytes(b"raw")
    check(a.poll(30) and a.poll() and a.recv() == [1, "x"] and a.recv_bytes() == b"raw", "b to a")
    a.send((2, 3))
    check(b.recv() == (2, 3), "a to b")
    p = multiprocessing.Process(target="pipe_echo", args=(b,))
    p.start()
    a.send(21)
    a.send("ab")
    check(a.recv() == 42 and a.recv() == "abab", "through a worker")
    a.send(None)
    p.join()
    check(p.exitcode == 0, "worker exit %r" % p.exitcode)
    r, w = multiprocessing.Pipe(duplex=False)
    w.send("one way")
    check(r.recv() == "one way" and r.readable and not r.writable, "one-way")
    expect(OSError, lambda: r.send(1), "read-only")
    expect(OSError, w.recv, "write-only")
    w.close()
    expect(OSError, lambda: w.send(1), "closed")
    check(w.closed, "closed")


def chapter_word_counts_of(name):
    spec = importlib.util.spec_from_file_location("wordcount", os.path.join(CHAPTER, "multiprocessing_wordcount.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return collections.Counter(w for w, _ in _quiet(module.file_to_words, os.path.join(TEXTS, name)))


if __name__ == "__main__":
    ROOT = tempfile.mkdtemp(prefix="spawnd-pypool.")
    SERVER, URL = base.start_server(ROOT)
    multiprocessing.set_server(URL)
    try:
        for fn in (test_pool_program, test_wordcount_program, test_map_starmap_apply, test_failed_tasks_raise,
                   test_timeouts_and_states, test_context_manager_terminates,
                   test_imap_resumes_after_a_broken_stream, test_mapreduce_errors, test_pipe):
            case(fn)
    finally:
        SERVER.terminate()
        status = SERVER.wait(15)
        if status != 0:
            base.failed += 1
            print("FAIL server_stops: spawnd exited with %d" % status)
        else:
            print("PASS server_stops")
        shutil.rmtree(ROOT, ignore_errors=True)
    sys.exit(1 if base.failed else 0)
