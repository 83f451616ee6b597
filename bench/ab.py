#!/usr/bin/env python3
"""A/B: two spawnd binaries (and the C fork loop) on the same load, alternating
rounds, to see what a change to the spawn path buys before it lands.

    python3 bench/ab.py OLD_SPAWND NEW_SPAWND [--rounds 5] [--seconds 2] [--figures P1,P3,P2]
    python3 bench/ab.py build/spawnd:--store=memory build/spawnd:--store=sqlite

A binary may end in `:--store=NAME` to run it with that store (the same
binary with two stores is the SQLite store's cost, measured in one run).

P1: 1 client POST ?wait= of `worker`, p50 (and p99); P3: 16 clients,
processes/s; P4: GET /processes/{id} of an ended worker, 64 connections,
requests/s; P2: 1 and 16 clients of the printf exec target; T: P1 p50 and
P4 requests/s over HTTPS with a bearer token (run.round_tls's setup). The fork/spawn
loops run in every round too, so each binary's ratio is against the same
baseline. Prints one line per figure and binary: median (min-max).
"""
import argparse
import json
import os
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402  (the harness: loadgen, Spawnd, baselines)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binaries", nargs="+")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--figures", default="P1,P3")
    args = ap.parse_args()
    figs = args.figures.split(",")
    S = args.seconds
    worker = json.dumps({"target": "worker"})
    printf = json.dumps({"target": "printf", "args": {"n": 7}})
    results = {}

    def add(key, value):
        results.setdefault(key, []).append(value)

    with tempfile.TemporaryDirectory() as tmp:
        targets = os.path.join(tmp, "targets.json")
        with open(targets, "w") as f:
            json.dump(run.EXEC_TARGETS, f)

        def measure_tls(i, binary):
            cert, key, tokens = run.tls_files(tmp)
            auth = [f"Authorization: Bearer {run.BENCH_TOKEN}"]
            with run.Spawnd(os.path.abspath(binary), extra=["--tls-cert", cert, "--tls-key", key,
                                                            "--tokens-file", tokens]) as sd:
                post = sd.url + "/processes?wait=10"
                res = run.checked(run.loadgen(post, 1, S, "POST", worker, headers=auth, cafile=cert), "T P1")
                add(f"T P1 p50 ms [{i}]", res["p50_ms"])
                status, body = run.http("POST", post, {"target": "worker"},
                                        headers={"Authorization": auth[0][len("Authorization: "):]}, cafile=cert)
                url = f"{sd.url}/processes/{json.loads(body)['id']}"
                add(f"T P4 rate/s [{i}]", run.checked(run.loadgen(url, 64, S, headers=auth, cafile=cert), "T P4")["rate"])

        def measure(i, spec):
            binary, _, opt = spec.partition(":")
            store = opt[len("--store="):] if opt.startswith("--store=") else None
            if opt and not store:
                raise SystemExit(f"{spec}: only BIN:--store=NAME is understood")
            with run.Spawnd(os.path.abspath(binary), targets if "P2" in figs else None, store=store) as sd:
                post = sd.url + "/processes?wait=10"
                if "P1" in figs:
                    res = run.checked(run.loadgen(post, 1, S, "POST", worker), "P1")
                    add(f"P1 p50 ms  [{i}]", res["p50_ms"])
                    add(f"P1 p99 ms  [{i}]", res["p99_ms"])
                if "P3" in figs:
                    add(f"P3 rate/s  [{i}]", run.checked(run.loadgen(post, 16, S, "POST", worker), "P3")["rate"])
                if "P4" in figs:
                    status, body = run.http("POST", post, {"target": "worker"})
                    worker_id = json.loads(body)["id"]
                    add(f"P4 rate/s  [{i}]", run.checked(run.loadgen(f"{sd.url}/processes/{worker_id}", 64, S),
                                                         "P4")["rate"])
                if "T" in figs:
                    measure_tls(i, binary)
                if "P2" in figs:
                    add(f"P2 p50 ms  [{i}]", run.checked(run.loadgen(post, 1, S, "POST", printf), "P2")["p50_ms"])
                    add(f"P2 16c rate [{i}]", run.checked(run.loadgen(post, 16, S, "POST", printf), "P2")["rate"])

        for r in range(args.rounds):
            order = list(enumerate(args.binaries))
            if r % 2:
                order.reverse()
            for i, binary in order:
                try:
                    measure(i, binary)
                except run.BenchError as e:
                    print(f"[{i}] round {r + 1}: {e}", file=sys.stderr)
                    add(f"failed rounds [{i}]", 1)
            if "P1" in figs or "P3" in figs:
                add("P1 p50 ms  [fork loop]", run.run_json([run.BASELINE, "fork", "-t", str(S)], S + 30)["p50_ms"])
                add("P3 rate/s  [2 fork loops]", run.run_json([run.BASELINE, "fork", "-j", "2", "-t", str(S)],
                                                              S + 30)["rate"])
            if "P2" in figs:
                add("P2 p50 ms  [spawn loop]", run.run_json([run.BASELINE, "spawn", "-t", str(S)], S + 30)["p50_ms"])
                add("P2 16c rate [2 spawn loops]", run.run_json([run.BASELINE, "spawn", "-j", "2", "-t", str(S)],
                                                                S + 30)["rate"])
            print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)
    for i, b in enumerate(args.binaries):
        print(f"[{i}] {b}")
    for key in sorted(results):
        v = results[key]
        print(f"{key:28} {statistics.median(v):10.3f}  ({min(v):.3f}–{max(v):.3f})")


if __name__ == "__main__":
    sys.exit(main())
