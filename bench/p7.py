"""P7: Python's multiprocessing (fork start method) run-and-join loop, for reference.

    python3 p7.py [-t SECONDS] [-n MAX]

Each iteration is Process(target=worker).start(); join() with a worker that
prints "Worker" (the builtin `worker` target's job), the lifecycle spawnd puts
on HTTP. The children's stdout goes to /dev/null so the output costs the same
write(2) as in the other loops without flooding the terminal. Prints one JSON
line like the C tools: {"requests", "rate", "p50_ms", "p99_ms", ...}.
"""
import argparse
import json
import multiprocessing
import os
import sys
import time


def worker():
    print("Worker")


def percentile(sorted_values, p):
    if not sorted_values:
        return 0.0
    i = max(0, min(len(sorted_values) - 1, int(p * len(sorted_values) + 0.999999) - 1))
    return sorted_values[i]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("-t", type=float, default=2.0, help="max seconds")
    parser.add_argument("-n", type=int, default=1000000, help="max iterations")
    opts = parser.parse_args()

    ctx = multiprocessing.get_context("fork")
    result = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    devnull = os.open(os.devnull, os.O_WRONLY)
    sys.stdout.flush()
    os.dup2(devnull, sys.stdout.fileno())

    latencies, errors = [], 0
    start = time.monotonic()
    deadline = start + opts.t
    t = start
    while len(latencies) < opts.n and t < deadline:
        t0 = t
        p = ctx.Process(target=worker)
        p.start()
        p.join()
        if p.exitcode != 0:
            errors += 1
        t = time.monotonic()
        latencies.append(t - t0)
    elapsed = t - start
    latencies.sort()
    result.write(json.dumps({
        "requests": len(latencies), "errors": errors, "clients": 1, "seconds": elapsed,
        "rate": (len(latencies) - errors) / elapsed if elapsed > 0 else 0,
        "p50_ms": percentile(latencies, 0.50) * 1e3, "p90_ms": percentile(latencies, 0.90) * 1e3,
        "p99_ms": percentile(latencies, 0.99) * 1e3,
        "max_ms": latencies[-1] * 1e3 if latencies else 0}) + "\n")
    result.flush()
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
