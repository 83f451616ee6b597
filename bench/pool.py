#!/usr/bin/env python3
"""Pool figures (issue 14), each side by side with its Python baseline in the
same round, alternating, as ab.py does:

  PL1  Pool.map of square over N integers (default 100,000), end to end over
       HTTP (POST /pools/{id}/map?wait=, by bench/build/poolmap: it builds the
       body, posts it, parses every result and checks it), against
       multiprocessing.Pool(processes=2).map of the same function; both pools
       are created and have mapped 2 items (spawnd starts its workers on the
       first work, Python's Pool forks them at once) before the timer, only
       the map is timed;
  PL2  apply round trip at 1 client (POST /pools/{id}/apply?wait= of square),
       against P1's round trip (POST /processes?wait= of worker), p50;
  PL3  the word count over about MB megabytes of text (default 50: the
       license texts of examples/texts, repeated), POST /mapreduce of
       wordcount_map/wordcount_reduce with 2 processes, against a Python
       SimpleMapReduce (Pool(2).map of a file-to-words function, the pairs
       partitioned by word, Pool(2).map of a sum), written here after the
       chapter's description.

    python3 bench/pool.py [--spawnd build/spawnd] [--rounds 3] [--items 100000] [--mb 50]
                          [--results bench/RESULTS.md]  (appends a "Pools" section)
Prints one line per figure: median (min-max) of each side and the ratio.
"""
import argparse
import collections
import itertools
import json
import multiprocessing
import os
import shutil
import statistics
import string
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402  (the harness: loadgen, Spawnd)

HERE = os.path.dirname(os.path.abspath(__file__))
POOLMAP = os.path.join(run.BUILD, "poolmap")
TEXTS = os.path.join(HERE, "..", "examples", "texts")
STOP = {"a", "an", "and", "are", "as", "be", "by", "for", "if", "in", "is", "it", "of", "or", "py", "rst",
        "that", "the", "to", "with"}
PUNCT = str.maketrans({p: " " for p in string.punctuation})


def square(x):
    return x * x


def words_of(path):
    """The chapter's map: (word, 1) for each kept word of the file."""
    out = []
    with open(path, "rt") as f:
        for line in f:
            if line.lstrip().startswith(".."):
                continue
            for w in line.translate(PUNCT).split():
                w = w.lower()
                if w.isalpha() and w not in STOP:
                    out.append((w, 1))
    return out


def total(item):
    return item[0], sum(item[1])


def python_wordcount(files):
    with multiprocessing.Pool(2) as pool:
        pairs = pool.map(words_of, files)
        grouped = collections.defaultdict(list)
        for w, n in itertools.chain(*pairs):
            grouped[w].append(n)
        return dict(pool.map(total, grouped.items()))


def make_corpus(folder, mb):
    """Files of about 1 MiB each, made of the shipped texts, mb MiB in all."""
    texts = "".join(open(os.path.join(TEXTS, n)).read() for n in sorted(os.listdir(TEXTS)))
    block = (texts * (1 + (1 << 20) // len(texts)))[: 1 << 20]
    names = []
    for i in range(mb):
        name = f"part{i:03d}.txt"
        with open(os.path.join(folder, name), "w") as f:
            f.write(block)
        names.append(name)
    return names


def timed(fn):
    t = time.monotonic()
    fn()
    return time.monotonic() - t


def post(url, body):
    status, data = run.http("POST", url, body, timeout=600)
    if status not in (200, 201):
        raise run.BenchError(f"POST {url}: {status} {data[:200]!r}")
    return json.loads(data)


def spawnd_map(url, items):
    """PL1's spawnd side: the C client (poolmap.c) times building the body,
    the POST and parsing and checking every result; it is faster than
    json.dumps/json.loads here (about 40 ms of 100,000 ints), which would be
    the client's cost, not the pool's. items must be range(len(items))."""
    assert items == list(range(len(items)))
    out = run.run_json([POOLMAP, url, str(len(items))], timeout=660)
    if out.get("items") != len(items):
        raise run.BenchError(f"PL1: {out}")
    return out["seconds"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--spawnd", default=os.path.join(HERE, "..", "build", "spawnd"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--items", type=int, default=100000)
    ap.add_argument("--mb", type=int, default=50)
    ap.add_argument("--results")
    args = ap.parse_args()
    binary = os.path.abspath(args.spawnd)
    if args.results:
        args.results = os.path.abspath(args.results)
    fig = collections.defaultdict(list)
    tmp = tempfile.mkdtemp(prefix="spawnd-bench-pool-")
    try:
        corpus = os.path.join(tmp, "examples", "texts")
        os.makedirs(corpus)
        names = make_corpus(corpus, args.mb)
        os.chdir(tmp)           # wordcount_map reads examples/texts under the server's cwd
        items = list(range(args.items))
        for r in range(args.rounds):
            with run.Spawnd(binary) as sd:
                pool = post(sd.url + "/pools", {"target": "square", "processes": 2})["id"]
                url = f"{sd.url}/pools/{pool}/map?wait=600"
                res = {}
                post(url, {"items": [1, 2]})       # its workers started, as Python's Pool forks them at once
                fig["PL1 spawnd s"].append(spawnd_map(url, items))
                apply = run.checked(run.loadgen(f"{sd.url}/pools/{pool}/apply?wait=10", 1, args.seconds,
                                                "POST", json.dumps({"args": [7]}), status=200), "PL2")
                p1 = run.checked(run.loadgen(sd.url + "/processes?wait=10", 1, args.seconds, "POST",
                                             json.dumps({"target": "worker"})), "P1")
                fig["PL2 apply p50 ms"].append(apply["p50_ms"])
                fig["PL2 P1 p50 ms"].append(p1["p50_ms"])
                body = {"map": "wordcount_map", "reduce": "wordcount_reduce", "inputs": names, "processes": 2}
                fig["PL3 spawnd s"].append(timed(lambda: res.update(post(sd.url + "/mapreduce?wait=600", body))))
                if res.get("state") != "done":
                    raise run.BenchError(f"PL3: {res.get('error')}")
            with multiprocessing.Pool(2) as p:     # created before the timer, as spawnd's pool is
                p.map(square, [1, 2])               # the same warm-up as spawnd's
                got = []
                fig["PL1 python s"].append(timed(lambda: got.extend(p.map(square, items))))
                if got != [square(x) for x in items]:
                    raise run.BenchError("PL1: Python's results are wrong")
            files = [os.path.join(corpus, n) for n in names]
            fig["PL3 python s"].append(timed(lambda: python_wordcount(files)))
            run.log(f"pool round {r + 1}/{args.rounds} done")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    report(args, fig)


def med(v):
    return f"{statistics.median(v):.3f} ({min(v):.3f}-{max(v):.3f})"


def report(args, fig):
    rows = [
        ("PL1", f"Pool.map(square) over {args.items} ints, over HTTP (C client: builds the body, parses and checks "
         "every result; both pools made and warmed by a map of 2 items before the timer), s", "PL1 spawnd s", "PL1 python s",
         "multiprocessing.Pool(2).map (pool made and warmed before)", "<= 1x"),
        ("PL2", "apply round trip at 1 client, p50 ms", "PL2 apply p50 ms", "PL2 P1 p50 ms",
         "P1 (POST /processes?wait=)", "< 0.5x"),
        ("PL3", f"word count over {args.mb} MiB, s", "PL3 spawnd s", "PL3 python s",
         "Python SimpleMapReduce, Pool(2)", "< 1x"),
    ]
    lines = ["", "## Pools (bench/pool.py)", "",
             "| figure | measure | spawnd | baseline | baseline is | ratio | goal |", "|---|---|---|---|---|---|---|"]
    for fid, what, s, b, base, goal in rows:
        ratio = statistics.median(fig[s]) / statistics.median(fig[b])
        lines.append(f"| {fid} | {what} | {med(fig[s])} | {med(fig[b])} | {base} | {ratio:.2f}x | {goal} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.results:
        with open(args.results, "a") as f:
            f.write(text)


if __name__ == "__main__":
    main()
