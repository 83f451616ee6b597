#!/usr/bin/env python3
"""spawnd benchmarks (issue 5): every figure side by side with its baseline, as
ratios measured in the same run, written to bench/RESULTS.md.

    python3 bench/run.py [--spawnd PATH] [--rounds N] [--seconds S] [--only "P1 P4"]

Figure T runs P1 and P4 over HTTPS with a bearer token in the same rounds as
the plain P1 and P4, so TLS's and the token check's cost is a ratio too.

Figure S runs P1 and P3 against `--store memory` and `--store sqlite` in the
same round (order alternating), and times the first page of a listing with
100,000 finished records in the SQLite store against an empty one. S (CPU) is
spawnd's own CPU time per P1 process under each store (a steadier measure of
what the store costs than latency, on a machine others load).

Method
- Each figure is measured in --rounds rounds. Within a round the spawnd side and
  the baseline side run back to back, and the order alternates from one round
  to the next, so the noise of this shared machine hits both sides; the ratio is
  computed per round and reported as median (min-max), like every figure.
- Every load runs through build/loadgen (libcurl multi, keep-alive, one request
  in flight per client, CLOCK_MONOTONIC) or build/baseline (C loops and a
  minimal libmicrohttpd server); P7 through p7.py. Each is bounded in count and
  time, and talks to 127.0.0.1 only.
- A fresh spawnd is started for each round (and for P5/P6), on port 0, with a
  temporary state directory that is removed afterwards.
"""
import argparse
import datetime
import json
import os
import platform
import resource
import select
import shutil
import ssl
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD = os.path.join(HERE, "build")
LOADGEN = os.path.join(BUILD, "loadgen")
BASELINE = os.path.join(BUILD, "baseline")
MHD_FIXED = os.path.join(BUILD, "mhd_fixed")
GIB = 1 << 30

# Loopback only: no proxy may see (or break) the benchmark traffic.
CLEAN_ENV = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
CLEAN_ENV["NO_PROXY"] = "*"
HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))

EXEC_TARGETS = {"targets": [{
    "name": "printf", "description": "bench P2: printf a number",
    "program": "/usr/bin/printf", "argv": ["Worker: %s\\n", "{n}"],
    "args": [{"name": "n", "type": "integer", "required": True}]}]}
WEBHOOK_HOOKS = [{
    "id": "printf", "execute-command": "/usr/bin/printf",
    "include-command-output-in-response": True,
    "pass-arguments-to-command": [{"source": "string", "name": "Worker: %s\n"},
                                  {"source": "url", "name": "n"}]}]


SPAWND_KEYS = ["P1.spawnd", "P2.spawnd1", "P2.spawnd16", "P3.spawnd", "P4.spawnd"]


class BenchError(Exception):
    pass


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---- running things ---------------------------------------------------------

def run_json(argv, timeout):
    """Runs a tool that prints one JSON line; returns the parsed line. A tool
    that reports errors still returns its figures, with "errors" > 0."""
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=CLEAN_ENV)
    except subprocess.TimeoutExpired:
        raise BenchError(f"{os.path.basename(argv[0])} timed out after {timeout:.0f} s")
    lines = [l for l in p.stdout.splitlines() if l.startswith("{")]
    if not lines:
        raise BenchError(f"{' '.join(argv[:3])}… exited {p.returncode}: {p.stderr.strip()[-300:]}")
    return json.loads(lines[-1])


def loadgen(url, clients, seconds, method="GET", body=None, headers=(), max_requests=1000000,
            status=None, warmup=True, ids_in=None, ids_out=None, verify=False, request_timeout=60, cafile=None):
    argv = [LOADGEN, "-m", method, "-c", str(clients), "-t", str(seconds), "-n", str(max_requests),
            "-T", str(request_timeout)]
    if cafile:
        argv += ["-C", cafile]
    if body is not None:
        argv += ["-d", body, "-H", "Content-Type: application/json"]
    for h in headers:
        argv += ["-H", h]
    if status:
        argv += ["-s", str(status)]
    if not warmup:
        argv.append("-W")
    if verify:
        argv.append("-V")
    if ids_in:
        argv += ["-i", ids_in]
    if ids_out:
        argv += ["-o", ids_out]
    return run_json(argv + [url], timeout=seconds + request_timeout + 30)


def checked(result, what):
    """A measurement with failed requests is not a figure."""
    if result.get("errors"):
        raise BenchError(f"{what}: {result['errors']} failed requests, first: "
                         f"{result.get('first_error', '?')}")
    return result


def http(method, url, body=None, headers=None, timeout=30, cafile=None):
    """One request for probes and setup: (status, body bytes)."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if data is not None:
        req.add_header("Content-Type", "application/json")
    opener = HTTP if not cafile else urllib.request.build_opener(
        urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=ssl.create_default_context(cafile=cafile)))
    try:
        with opener.open(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def raise_fd_limit():
    """For P6: each live worker holds a few fds in spawnd (pipes, pidfd), so
    the server gets the whole open-file limit the machine allows."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class Server:
    """A server process that prints "... listening on http://127.0.0.1:PORT"
    as its first stdout line (spawnd, baseline mhd), or a fixed port (webhook)."""

    def __init__(self, argv, port=None, many_fds=False):
        self.argv, self.port, self.many_fds = argv, port, many_fds
        self.scheme = "http"
        self.proc = None
        self.errfile = tempfile.TemporaryFile()

    def __enter__(self):
        self.proc = subprocess.Popen(self.argv, stdout=subprocess.PIPE, stderr=self.errfile,
                                     stdin=subprocess.DEVNULL, env=CLEAN_ENV,
                                     preexec_fn=raise_fd_limit if self.many_fds else None)
        try:
            if self.port is None:
                self.port = self._read_port()
            else:
                self._wait_connectable()
        except BenchError:
            self.stop()
            raise
        # Keep draining stdout so a chatty server never blocks on a full pipe.
        threading.Thread(target=lambda: [None for _ in self.proc.stdout], daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.stop()

    @property
    def url(self):
        return f"{self.scheme}://127.0.0.1:{self.port}"

    @property
    def pid(self):
        return self.proc.pid

    def stderr_tail(self):
        self.errfile.seek(0)
        return self.errfile.read().decode(errors="replace").strip()[-400:]

    def _read_port(self):
        ready, _, _ = select.select([self.proc.stdout], [], [], 15)
        line = self.proc.stdout.readline().decode(errors="replace") if ready else ""
        if "listening on https://127.0.0.1:" in line:
            self.scheme = "https"
        marker = f"listening on {self.scheme}://127.0.0.1:"
        if marker not in line:
            time.sleep(0.2)
            raise BenchError(f"{os.path.basename(self.argv[0])} did not start "
                             f"(first line {line.strip()!r}): {self.stderr_tail()}")
        return int(line.split(marker)[1].strip().rstrip("/"))

    def _wait_connectable(self):
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise BenchError(f"{os.path.basename(self.argv[0])} did not start: {self.stderr_tail()}")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Spawnd(Server):
    def __init__(self, binary, targets_file=None, max_running=None, store=None, state_dir=None, extra=()):
        self.keep_state = state_dir is not None
        self.state_dir = state_dir or tempfile.mkdtemp(prefix="spawnd-bench-")
        argv = [binary, "--listen", "127.0.0.1:0", "--state-dir", self.state_dir, "--log-level", "error"]
        if targets_file:
            argv += ["--targets", targets_file]
        if max_running:
            argv += ["--max-running", str(max_running)]
        if store:
            argv += ["--store", store]
        argv += list(extra)
        super().__init__(argv, many_fds=True)

    def stop(self):
        super().stop()
        if not self.keep_state:
            shutil.rmtree(self.state_dir, ignore_errors=True)


# ---- figures ----------------------------------------------------------------

class Figures:
    """Per-figure lists of per-round values, and notes."""

    def __init__(self):
        self.values = {}    # key -> [value per round]
        self.errors = {}    # key -> message (first one)
        self.notes = []

    def add(self, key, value):
        self.values.setdefault(key, []).append(value)

    def fail(self, key, err):
        log(f"{key}: {err}")
        self.errors.setdefault(key, str(err))

    def attempt(self, keys, fn):
        """Runs one measurement; on failure every key in keys gets the error."""
        try:
            fn()
        except BenchError as e:
            for k in keys:
                self.fail(k, e)


def spawnd_probe(base, fig, targets_ok):
    """Checks the server does what the figures assume; returns a finished
    worker's id (for P4) and whether the exec target works."""
    status, body = http("POST", base + "/processes?wait=10", {"target": "worker"})
    rec = json.loads(body or b"{}")
    if status != 201 or rec.get("state") != "exited" or rec.get("alive") is not False:
        raise BenchError(f"POST ?wait= of worker gave {status} {body[:200]!r}")
    status, body = http("GET", base + f"/processes/{rec['id']}")
    rec = json.loads(body)
    if status != 200 or rec.get("stdout") != "Worker\n":
        raise BenchError(f"GET of the worker gave {status} {body[:200]!r}")
    exec_ok = False
    if targets_ok:
        status, body = http("POST", base + "/processes?wait=10", {"target": "printf", "args": {"n": 7}})
        p2 = json.loads(body or b"{}")
        if status == 201:
            _, body = http("GET", base + f"/processes/{p2.get('id')}")
            exec_ok = json.loads(body).get("stdout") == "Worker: 7\n"
        if not exec_ok:
            fig.notes.append(f"P2: the printf exec target did not run as expected ({status} "
                             f"{body[:160]!r}).")
    return rec["id"], exec_ok


def round_spawnd_http(args, fig, r, tmp, targets_file):
    """P1, P3, P4, P2 (spawnd side and their baselines) and P7 of round r."""
    S = args.seconds
    spawnd_first = r % 2 == 0
    with Spawnd(args.spawnd, targets_file) as sd:
        base = sd.url
        worker_id, exec_ok = spawnd_probe(base, fig, targets_file is not None)
        post = base + "/processes?wait=10"
        worker = json.dumps({"target": "worker"})

        def p1_spawnd():
            res = checked(loadgen(post, 1, S, "POST", worker), "P1 spawnd")
            fig.add("P1.spawnd", res)

        def p1_base():
            fig.add("P1.fork", checked(run_json([BASELINE, "fork", "-t", str(S)], S + 30), "P1 fork loop"))

        def p3_spawnd():
            fig.add("P3.spawnd", checked(loadgen(post, 16, S, "POST", worker), "P3 spawnd"))

        def p3_base():
            fig.add("P3.fork2", checked(run_json([BASELINE, "fork", "-j", "2", "-t", str(S)], S + 30),
                                        "P3 two fork loops"))

        def p4_spawnd():
            fig.add("P4.spawnd", checked(loadgen(f"{base}/processes/{worker_id}", 64, S), "P4 spawnd"))

        def p4_base():
            size = len(http("GET", f"{base}/processes/{worker_id}")[1])
            with Server([MHD_FIXED, "-b", str(size), "-p", str(args.mhd_pool)]) as mhd:
                fig.add("P4.mhd", checked(loadgen(mhd.url + "/processes/x", 64, S), "P4 mhd"))
            fig.add("P4.body_bytes", size)

        def p7():
            fig.add("P7.python", checked(run_json([sys.executable, os.path.join(HERE, "p7.py"),
                                                   "-t", str(S)], S + 60), "P7"))

        pairs = []
        if args.wants("P1") or args.wants("P7"):
            pairs.append((["P1.spawnd"], p1_spawnd, ["P1.fork"], p1_base))
        if args.wants("P7"):
            pairs.append(([], None, ["P7.python"], p7))
        if args.wants("P3"):
            pairs.append((["P3.spawnd"], p3_spawnd, ["P3.fork2"], p3_base))
        if args.wants("P4"):
            pairs.append((["P4.spawnd"], p4_spawnd, ["P4.mhd"], p4_base))
        for skeys, sfn, bkeys, bfn in pairs:
            steps = [(skeys, sfn), (bkeys, bfn)] if spawnd_first else [(bkeys, bfn), (skeys, sfn)]
            for keys, fn in steps:
                if fn:
                    fig.attempt(keys, fn)
        if args.wants("P2"):
            round_p2(args, fig, r, tmp, base if exec_ok else None)


BENCH_TOKEN = "bench-admin-token-0123456789abcdef"


def tls_files(tmp):
    """A self-signed certificate for 127.0.0.1 (made once per run with openssl)
    and a tokens file with one admin token; (cert, key, tokens)."""
    cert, key, tokens = (os.path.join(tmp, n) for n in ("tls.pem", "tls.key", "tokens"))
    if not os.path.exists(cert):
        p = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                            "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=127.0.0.1",
                            "-addext", "subjectAltName=IP:127.0.0.1"], capture_output=True, text=True)
        if p.returncode:
            raise BenchError(f"openssl could not make a certificate: {p.stderr.strip()[-300:]}")
        with open(tokens, "w") as f:
            f.write(f"admin {BENCH_TOKEN}\n")
        os.chmod(tokens, 0o600)
    return cert, key, tokens


def round_tls(args, fig, r, tmp):
    """T: P1 and P4 over HTTPS (TLS 1.3, keep-alive: one handshake a client)
    with a bearer token on every request, in the same round as the plain
    figures, so the two sit side by side (T.P1 against P1.spawnd)."""
    S = args.seconds
    cert, key, tokens = tls_files(tmp)
    auth = [f"Authorization: Bearer {BENCH_TOKEN}"]
    with Spawnd(args.spawnd, extra=["--tls-cert", cert, "--tls-key", key, "--tokens-file", tokens]) as sd:
        if sd.scheme != "https":
            raise BenchError("spawnd did not serve https with --tls-cert")
        post = sd.url + "/processes?wait=10"
        worker = json.dumps({"target": "worker"})
        if args.wants("P1") or args.wants("T"):
            fig.attempt(["T.P1"], lambda: fig.add("T.P1", checked(
                loadgen(post, 1, S, "POST", worker, headers=auth, cafile=cert), "P1 over TLS with a token")))
        if args.wants("P4") or args.wants("T"):
            status, body = http("POST", post, {"target": "worker"}, headers={"Authorization": auth[0][15:]},
                                cafile=cert)
            if status != 201:
                raise BenchError(f"POST over TLS gave {status}: {body[:200]!r}")
            worker_id = json.loads(body)["id"]
            fig.attempt(["T.P4"], lambda: fig.add("T.P4", checked(
                loadgen(f"{sd.url}/processes/{worker_id}", 64, S, headers=auth, cafile=cert),
                "P4 over TLS with a token")))


def fill_store(state_dir, n):
    """n finished records written straight into STATE_DIR/spawnd.db (its
    schema made by spawnd itself, started and stopped once there), as a long
    history of `worker` runs would leave them; no output files (stdout_bytes 0)."""
    db = sqlite3.connect(os.path.join(state_dir, "spawnd.db"))
    ms0 = int(time.time() * 1000) - n
    rows = ((f"{ms0 + i:011x}0000{0xbe7c0000 + (i >> 20):08x}", f"Process-{i + 1}", "worker", "[]", 0, 0.0,
             ms0 + i, 2, 1000 + i % 30000, 0, 0, 1, None, ms0 + i, ms0 + i, 0, 0, 0, None) for i in range(n))
    # The columns by name: later columns (output, timeline, pool...) keep their defaults.
    db.executemany("INSERT INTO records (id, name, target, args_text, daemon, timeout, created_ms, state, pid,"
                   " exitcode, signal, reason, error, started_ms, ended_ms, stdout_bytes, stderr_bytes,"
                   " start_ticks, launch) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
    db.commit()
    db.close()


def cpu_seconds(pid):
    """utime + stime of process pid, all its threads (/proc/PID/stat)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def round_store(args, fig, r, tmp, targets_file):
    """S: P1 and P3 with --store memory and --store sqlite side by side, and
    the time to list the first page with 100,000 records in the store.
    Each server is set up as P1's is (the same targets file, the same warm-up
    by spawnd_probe), so that the store is the only difference from P1."""
    S = args.seconds
    worker = json.dumps({"target": "worker"})
    stores = ["memory", "sqlite"] if r % 2 == 0 else ["sqlite", "memory"]
    for store in stores:
        def one(store=store):
            with Spawnd(args.spawnd, targets_file, store=store) as sd:
                spawnd_probe(sd.url, fig, False)
                post = sd.url + "/processes?wait=10"
                cpu0 = cpu_seconds(sd.pid)
                res = checked(loadgen(post, 1, S, "POST", worker), f"P1 {store}")
                fig.add(f"S.P1.{store}", res)
                # spawnd's own CPU per process (a loaded machine moves latency far more than this)
                cpu_ms = (cpu_seconds(sd.pid) - cpu0) * 1e3 / max(res["requests"], 1)
                fig.add(f"S.P1cpu.{store}", {"cpu_ms": cpu_ms})
                fig.add(f"S.P3.{store}", checked(loadgen(post, 16, S, "POST", worker), f"P3 {store}"))
        fig.attempt([f"S.P1.{store}", f"S.P3.{store}"], one)

    def listing(n, key):
        state = tempfile.mkdtemp(prefix="spawnd-bench-list-", dir=tmp)
        with Spawnd(args.spawnd, store="sqlite", state_dir=state):
            pass                                # spawnd makes the schema
        if n:
            fill_store(state, n)
        with Spawnd(args.spawnd, store="sqlite", state_dir=state) as sd:
            status, body = http("GET", sd.url + "/processes?limit=100")
            got = len(json.loads(body).get("processes", []))
            if status != 200 or got != min(n, 100):
                raise BenchError(f"GET /processes?limit=100 gave {status} with {got} records")
            fig.add(key, checked(loadgen(sd.url + "/processes?limit=100", 1, S), f"list {n}"))
        shutil.rmtree(state, ignore_errors=True)
    for n, key in ((0, "S.list0"), (100, "S.list100"), (args.list_records, "S.list100k")):
        fig.attempt([key], lambda n=n, key=key: listing(n, key))


def round_p2(args, fig, r, tmp, spawnd_base):
    """P2: exec target vs a posix_spawn loop and webhook, at 1 and 16 clients."""
    S = args.seconds
    body = json.dumps({"target": "printf", "args": {"n": 7}})
    hooks = os.path.join(tmp, "hooks.json")
    with open(hooks, "w") as f:
        json.dump(WEBHOOK_HOOKS, f)

    def spawnd_side():
        if spawnd_base is None:
            return
        url = spawnd_base + "/processes?wait=10"
        fig.add("P2.spawnd1", checked(loadgen(url, 1, S, "POST", body), "P2 spawnd 1 client"))
        fig.add("P2.spawnd16", checked(loadgen(url, 16, S, "POST", body), "P2 spawnd 16 clients"))

    def loop_side():
        fig.add("P2.spawn1", checked(run_json([BASELINE, "spawn", "-t", str(S)], S + 30), "P2 spawn loop"))
        fig.add("P2.spawn2", checked(run_json([BASELINE, "spawn", "-j", "2", "-t", str(S)], S + 30),
                                     "P2 two spawn loops"))

    def webhook_side():
        if not shutil.which("webhook"):
            raise BenchError("webhook is not installed (scripts/install-deps.sh bench installs it)")
        port = free_port()
        with Server(["webhook", "-hooks", hooks, "-ip", "127.0.0.1", "-port", str(port)], port=port) as wh:
            url = wh.url + "/hooks/printf?n=7"
            status, out = http("POST", url)
            if status != 200 or out != b"Worker: 7\n":
                raise BenchError(f"webhook answered {status} {out[:100]!r}")
            fig.add("P2.webhook1", checked(loadgen(url, 1, S, "POST", status=200), "P2 webhook 1"))
            fig.add("P2.webhook16", checked(loadgen(url, 16, S, "POST", status=200), "P2 webhook 16"))

    sides = [(["P2.spawnd1", "P2.spawnd16"], spawnd_side), (["P2.spawn1", "P2.spawn2"], loop_side),
             (["P2.webhook1", "P2.webhook16"], webhook_side)]
    if r % 2:
        sides.reverse()
    for keys, fn in sides:
        fig.attempt(keys, fn)


def server_rss_kib(pid):
    """VmRSS of spawnd and of its direct children (the fork server; workers are
    the fork server's children), in KiB: {"main": n, "helpers": n}."""
    def vmrss(p):
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1])
        except OSError:
            pass
        return 0
    helpers = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if ppid == pid:
                helpers += vmrss(entry)
    return {"main": vmrss(pid), "helpers": helpers}


def round_p5(args, fig, r, tmp):
    """P5: a 1 GiB `burst` worker -> spawnd -> client, vs a plain pipe of 1 GiB.
    Streamed: POST (no wait), then GET its raw output with follow=true until
    EOF. Stored: POST ?wait= (capture to memory and spill file), then GET the
    raw output of the finished process. Both check every byte."""
    size = args.p5_bytes
    body = json.dumps({"target": "burst", "args": {"bytes": size}})
    raw = ["Accept: application/octet-stream"]

    def get_raw(base, pid, follow):
        url = f"{base}/processes/{pid}/output?stream=stdout" + ("&follow=true" if follow else "")
        res = checked(loadgen(url, 1, 600, headers=raw, max_requests=1, warmup=False, verify=True,
                              request_timeout=300), "P5 GET raw output")
        if res["bytes"] != size:
            raise BenchError(f"raw output{' (follow)' if follow else ''} had {res['bytes']} bytes, not {size}")
        return res

    def post(base, wait):
        ids = os.path.join(tmp, "p5.ids")
        res = checked(loadgen(base + ("/processes?wait=300" if wait else "/processes"), 1, 600, "POST", body,
                              max_requests=1, warmup=False, ids_out=ids, request_timeout=300), "P5 POST burst")
        with open(ids) as f:
            return res, f.read().split()[0]

    def streamed():
        with Spawnd(args.spawnd) as sd:
            p, pid = post(sd.url, False)
            get = get_raw(sd.url, pid, True)
            total = p["seconds"] + get["seconds"]
            fig.add("P5.follow", {"mib_per_s": size / 2**20 / total})

    def stored():
        with Spawnd(args.spawnd) as sd:
            p, pid = post(sd.url, True)
            t0 = time.monotonic()
            _, rec = http("POST", f"{sd.url}/processes/{pid}/join?timeout=300", timeout=320)
            join_s = time.monotonic() - t0
            rec = json.loads(rec)
            if rec.get("state") != "exited" or rec.get("stdout_bytes") != size:
                raise BenchError(f"burst ended as {rec.get('state')} with {rec.get('stdout_bytes')} bytes")
            get = get_raw(sd.url, pid, False)
            total = p["seconds"] + join_s + get["seconds"]
            fig.add("P5.spawnd", {"mib_per_s": size / 2**20 / total, "post_s": p["seconds"] + join_s,
                                  "get_s": get["seconds"], "get_mib_per_s": size / 2**20 / get["seconds"]})

    def pipe_side():
        fig.add("P5.pipe", run_json([BASELINE, "pipe", "-b", str(size)], 120))

    sides = [(["P5.follow"], streamed), (["P5.spawnd"], stored), (["P5.pipe"], pipe_side)]
    if r % 2:
        sides.reverse()
    for keys, fn in sides:
        fig.attempt(keys, fn)


def round_p6(args, fig, r, tmp):
    """P6: N live `sleep` workers: time to start them, server RSS per live
    process, GET p99 while they live."""
    n = args.p6_workers
    with Spawnd(args.spawnd, max_running=8192) as sd:
        base = sd.url
        ids = os.path.join(tmp, "p6.ids")
        spawnd_probe(base, fig, False)
        time.sleep(0.3)
        before = server_rss_kib(sd.pid)
        body = json.dumps({"target": "sleep", "args": {"seconds": 300}})
        try:
            start = checked(loadgen(base + "/processes", 16, 120, "POST", body, max_requests=n,
                                    warmup=False, ids_out=ids), "P6 start")
            # spawnd caps live workers to what its open-file limit allows (it
            # logs "fd budget"); the rest wait queued. Wait until every POST is
            # either running or queued and the running count stops growing.
            t0 = time.monotonic()
            running, last, stable_since = 0, -1, time.monotonic()
            while time.monotonic() - t0 < 60:
                health = json.loads(http("GET", base + "/healthz")[1])
                running, queued = health.get("running", 0), health.get("queued", 0)
                if running != last:
                    last, stable_since = running, time.monotonic()
                if running >= n or (running + queued >= n and time.monotonic() - stable_since > 1):
                    break
                time.sleep(0.05)
            if running < n:
                fig.notes.append(f"P6: {running:,} of the {n:,} workers ran at once; the rest stayed "
                                 f"queued: spawnd fits max-running to RLIMIT_NOFILE "
                                 f"(hard limit {resource.getrlimit(resource.RLIMIT_NOFILE)[1]:,} here, "
                                 f"~4 fds per live worker). Per-process figures divide by {running:,}.")
            if running < n * 0.9:
                raise BenchError(f"only {running} of {n} workers running after 60 s")
            all_running_s = start["seconds"] + time.monotonic() - t0
            live = running
            time.sleep(0.3)
            after = server_rss_kib(sd.pid)
            with open(ids) as f:
                some_id = f.read().split()[n // 2]
            get = checked(loadgen(f"{base}/processes/{some_id}", 1, args.seconds), "P6 GET")
            get64 = checked(loadgen(f"{base}/processes/{some_id}", 64, args.seconds), "P6 GET 64")
            fig.add("P6", {
                "start_s": start["seconds"], "all_running_s": all_running_s,
                "start_rate": n / start["seconds"], "live": live,
                "rss_per_proc_kib": (after["main"] - before["main"]) / live,
                "helper_rss_per_proc_kib": (after["helpers"] - before["helpers"]) / live,
                "rss_before_kib": before["main"], "rss_after_kib": after["main"],
                "get_p99_ms": get["p99_ms"], "get_p50_ms": get["p50_ms"],
                "get64_p99_ms": get64["p99_ms"], "get64_rate": get64["rate"]})
        finally:
            if os.path.exists(ids):
                loadgen(base + "/processes/{id}/kill", 16, 120, "POST", "", status=202, warmup=False,
                        ids_in=ids)


# ---- the table ----------------------------------------------------------------

def spread(values, fmt):
    if not values:
        return None
    med = statistics.median(values)
    if len(values) == 1:
        return fmt(med)
    return f"{fmt(med)} ({fmt(min(values))}–{fmt(max(values))})"


def ms(v):
    return f"{v:.3f} ms" if v < 10 else f"{v:.1f} ms"


def per_s(v):
    return f"{v:,.0f}/s"


def times(v):
    return f"{v:.2f}x"


def mibs(v):
    return f"{v:,.0f} MiB/s"


class Row:
    def __init__(self, fid, measure, goal, spawnd=None, base=None, ratio=None, met=None, why=None):
        self.fid, self.measure, self.goal = fid, measure, goal
        self.spawnd, self.base, self.ratio, self.met, self.why = spawnd, base, ratio, met, why


def pair_rows(fig, fid, measure, skey, bkey, metric, fmt, goal, ok, invert=False):
    """A figure whose ratio is spawnd/baseline per round (baseline/spawnd with invert)."""
    s = [v[metric] for v in fig.values.get(skey, [])]
    b = [v[metric] for v in fig.values.get(bkey, [])]
    n = min(len(s), len(b))
    ratios = [(b[i] / s[i] if invert else s[i] / b[i]) for i in range(n) if (s[i] if invert else b[i])]
    why = fig.errors.get(skey) or fig.errors.get(bkey)
    med = statistics.median(ratios) if ratios else None
    return Row(fid, measure, goal, spread(s, fmt), spread(b, fmt), spread(ratios, times),
               None if med is None else ok(med), why)


def build_rows(args, fig):
    rows = []
    if args.wants("P1") or args.wants("P7"):
        rows.append(pair_rows(fig, "P1", "run-and-wait round trip, builtin `worker`, 1 client, **p50** "
                              "(vs fork → worker() → pipe → read → waitpid loop)",
                              "P1.spawnd", "P1.fork", "p50_ms", ms, "≤ 1.3x", lambda x: x <= 1.3))
        rows.append(pair_rows(fig, "P1", "the same, **p99**", "P1.spawnd", "P1.fork", "p99_ms", ms,
                              "≤ 1.3x", lambda x: x <= 1.3))
        rows.append(pair_rows(fig, "P1 (issue 2)", "process start path, p50 (issue 2's done-when)",
                              "P1.spawnd", "P1.fork", "p50_ms", ms, "≤ 1.5x", lambda x: x <= 1.5))
    if args.wants("P2"):
        rows.append(pair_rows(fig, "P2", "exec target `/usr/bin/printf \"Worker: %s\\n\" N`, 1 client, p50 "
                              "(vs posix_spawn + pipe + waitpid loop)", "P2.spawnd1", "P2.spawn1", "p50_ms",
                              ms, "≤ 1.2x", lambda x: x <= 1.2))
        rows.append(pair_rows(fig, "P2", "the same, 16 clients, processes/s (vs 2 posix_spawn loops "
                              "in parallel, one per core); ratio = loop rate / spawnd rate",
                              "P2.spawnd16", "P2.spawn2", "rate", per_s, "≤ 1.2x", lambda x: x <= 1.2,
                              invert=True))
        rows.append(pair_rows(fig, "P2", "exec target vs adnanh/webhook (same command, output in the "
                              "response), 1 client, requests/s", "P2.spawnd1", "P2.webhook1", "rate",
                              per_s, "≥ 2x", lambda x: x >= 2))
        rows.append(pair_rows(fig, "P2", "the same, 16 clients, requests/s", "P2.spawnd16", "P2.webhook16",
                              "rate", per_s, "≥ 2x", lambda x: x >= 2))
        # What the kernel allows: the bare posix_spawn loops against webhook.
        # spawnd runs the same exec, so its ratio to webhook cannot beat these.
        rows.append(pair_rows(fig, "P2 (bound)", "context: the posix_spawn loop's own rate vs webhook, 1 "
                              "client (spawnd column: the loop)", "P2.spawn1", "P2.webhook1", "rate", per_s,
                              "(ceiling)", lambda x: None))
        rows.append(pair_rows(fig, "P2 (bound)", "context: 2 posix_spawn loops vs webhook at 16 clients",
                              "P2.spawn2", "P2.webhook16", "rate", per_s, "(ceiling)", lambda x: None))
    if args.wants("P3"):
        rows.append(pair_rows(fig, "P3", "processes/s, builtin `worker`, 16 clients (vs two fork loops "
                              "in parallel)", "P3.spawnd", "P3.fork2", "rate", per_s, "≥ 0.80x",
                              lambda x: x >= 0.8))
    if args.wants("P4"):
        size = fig.values.get("P4.body_bytes", [0])[0]
        rows.append(pair_rows(fig, "P4", f"`GET /processes/{{id}}` requests/s, 64 connections (vs a "
                              f"minimal libmicrohttpd server, fixed {size}-byte body, same threading)",
                              "P4.spawnd", "P4.mhd", "rate", per_s, "≥ 0.80x", lambda x: x >= 0.8))
    if args.wants("P5"):
        gib = f"{args.p5_bytes / GIB:g} GiB"
        rows.append(pair_rows(fig, "P5", f"{gib} `burst` streamed worker → spawnd → client: POST, then "
                              "`GET …/output?follow=true` raw until EOF, bandwidth (vs a plain pipe)",
                              "P5.follow", "P5.pipe", "mib_per_s", mibs, "≥ 0.50x", lambda x: x >= 0.5))
        rows.append(pair_rows(fig, "P5 (stored)", f"{gib} `burst`: `POST ?wait=` (captured to memory and "
                              "spill file), then `GET …/output` raw of the ended process, end-to-end bandwidth",
                              "P5.spawnd", "P5.pipe", "mib_per_s", mibs, "(reference)", lambda x: None))
    if args.wants("P6"):
        p6 = fig.values.get("P6", [])
        why = fig.errors.get("P6")
        n = args.p6_workers

        def one(measure, key, fmt, goal=None, ok=None):
            vals = [v[key] for v in p6]
            med = statistics.median(vals) if vals else None
            return Row("P6", measure, goal or "—", spread(vals, fmt), "—", "—",
                       None if (med is None or ok is None) else ok(med), why)
        rows.append(one(f"{n:,} `sleep` workers kept alive (as many at once as the fd limit allows: see the "
                        "notes): time to start all (POSTs, 16 clients)", "start_s",
                        lambda v: f"{v:.2f} s"))
        rows.append(one("server RSS per live process (spawnd main process, VmRSS after − before) / live workers",
                        "rss_per_proc_kib", lambda v: f"{v:.1f} KiB", "≤ 16 KiB", lambda x: x <= 16))
        rows.append(one("the same for the fork server (spawnd's helper process)", "helper_rss_per_proc_kib",
                        lambda v: f"{v:.1f} KiB"))
        rows.append(one("`GET /processes/{id}` p99 while they live, 1 client", "get_p99_ms", ms,
                        "≤ 5 ms", lambda x: x <= 5))
    if args.wants("S"):
        rows.append(pair_rows(fig, "S (P1)", "P1 p50 with `--store sqlite` (vs `--store memory`, same run)",
                              "S.P1.sqlite", "S.P1.memory", "p50_ms", ms, "≤ 1.10x", lambda x: x <= 1.1))
        rows.append(pair_rows(fig, "S (P3)", "P3 processes/s with `--store sqlite` (vs `--store memory`)",
                              "S.P3.sqlite", "S.P3.memory", "rate", per_s, "≥ 0.90x", lambda x: x >= 0.9))
        rows.append(pair_rows(fig, "S (CPU)", "spawnd's CPU time (all threads) per P1 process, `--store sqlite` "
                              "(vs `--store memory`): what the store costs, steadier than latency on a busy "
                              "machine", "S.P1cpu.sqlite", "S.P1cpu.memory", "cpu_ms", ms, "(diagnostic)",
                              lambda x: None))
        rows.append(pair_rows(fig, "S (list)", f"`GET /processes?limit=100` p50 with {args.list_records:,} "
                              "finished records in the SQLite store (vs an empty store)",
                              "S.list100k", "S.list0", "p50_ms", ms, "≤ 2x", lambda x: x <= 2))
        rows.append(pair_rows(fig, "S (list)", "the same, vs a store of only those 100 records (the same page "
                              "to render: what 100,000 cost)", "S.list100k", "S.list100", "p50_ms", ms, "≤ 1.2x",
                              lambda x: x <= 1.2))
    if args.wants("T") or args.wants("P1"):
        rows.append(pair_rows(fig, "T (P1)", "P1 p50 over TLS 1.3 with a bearer token (vs plain HTTP without "
                              "one, same run)", "T.P1", "P1.spawnd", "p50_ms", ms, "≤ 1.5x", lambda x: x <= 1.5))
    if args.wants("T") or args.wants("P4"):
        rows.append(pair_rows(fig, "T (P4)", "P4 requests/s over TLS 1.3 with a bearer token (vs plain HTTP, "
                              "same run); ratio = plain rate / TLS rate", "T.P4", "P4.spawnd", "rate", per_s,
                              "≤ 2x", lambda x: x <= 2, invert=True))
    if args.wants("P7"):
        rows.append(pair_rows(fig, "P7", "Python multiprocessing (fork) `Process(target=worker).start(); "
                              "join()` loop, p50, for reference (spawnd column: P1 p50)",
                              "P1.spawnd", "P7.python", "p50_ms", ms, "< 1x (P1 faster)", lambda x: x < 1))
    return rows


def machine():
    model = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"nproc {os.cpu_count()}, {model}, kernel {platform.release()}"


def spawnd_version(binary):
    try:
        st = os.stat(binary)
    except OSError:
        return f"`{binary}` (missing)"
    rev = subprocess.run(["git", "-C", HERE, "rev-parse", "--short", "HEAD"], capture_output=True,
                         text=True).stdout.strip() or "no commit yet"
    dirty = subprocess.run(["git", "-C", HERE, "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()
    built = datetime.datetime.fromtimestamp(st.st_mtime, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return f"`{os.path.relpath(binary, os.path.dirname(HERE))}` built {built}, git {rev}{' + local changes' if dirty else ''}"


def write_results(args, fig, rows, started, elapsed):
    def cell(v):
        return v if v is not None else "—"

    def met(row):
        if row.met is None:
            return "not measured" if row.why else "—"
        return "**yes**" if row.met else "**NO**"

    out = ["# spawnd benchmark results", "",
           "Generated by `make bench` (bench/run.py); do not edit by hand — the analysis below comes "
           "from bench/ANALYSIS.md.", "",
           f"- Command: `{args.command}`",
           f"- Machine: {machine()} (shared, noisy: read the ratios, not the absolute numbers)",
           f"- Date: {started.strftime('%Y-%m-%d %H:%M:%S UTC')}, run took {elapsed:.0f} s",
           f"- spawnd: {spawnd_version(args.spawnd)}",
           f"- Rounds: {args.rounds} × {args.seconds:g} s per measurement (P5: {args.p5_rounds}, "
           f"P6: {args.p6_rounds}); each cell is median (min–max) over the rounds; the ratio is "
           "computed per round. spawnd and baseline alternate who goes first.",
           "",
           "| id | measure | spawnd | baseline (same run) | ratio | goal | met? |",
           "|---|---|---|---|---|---|---|"]
    for row in rows:
        out.append(f"| {row.fid} | {row.measure} | {cell(row.spawnd)} | {cell(row.base)} | "
                   f"{cell(row.ratio)} | {row.goal} | {met(row)} |")
    out += ["", "Ratios: latency figures are spawnd / baseline (lower is better); rate figures are "
            "spawnd / baseline (higher is better), except where the measure says otherwise.", ""]
    problems = sorted({f"{k}: {v}" for k, v in fig.errors.items()})
    if problems or fig.notes:
        out += ["## Notes on this run (what could not be measured, and why)", ""]
        out += [f"- {p}" for p in problems + sorted(set(fig.notes))]
        out.append("")
    details = []
    for key in sorted(fig.values):
        vals = fig.values[key]
        if key == "P6":
            for k in ("live", "all_running_s", "start_rate", "rss_before_kib", "rss_after_kib", "get_p50_ms",
                      "get64_p99_ms", "get64_rate"):
                details.append(f"- P6 {k}: {spread([v[k] for v in vals], lambda x: f'{x:,.2f}')}")
        elif key == "P5.spawnd":
            details.append(f"- P5 spawnd POST ?wait= (run + capture) seconds: "
                           f"{spread([v['post_s'] for v in vals], lambda x: f'{x:.2f}')}; GET raw output "
                           f"alone: {spread([v['get_mib_per_s'] for v in vals], mibs)}")
        elif vals and isinstance(vals[0], dict) and "p50_ms" in vals[0]:
            details.append(f"- {key}: p50 {spread([v['p50_ms'] for v in vals], ms)}, p99 "
                           f"{spread([v['p99_ms'] for v in vals], ms)}, rate "
                           f"{spread([v['rate'] for v in vals], per_s)}, "
                           f"requests per round {spread([v['requests'] for v in vals], lambda x: f'{x:.0f}')}")
    if details:
        out += ["## Every measurement", ""] + details + [""]
    analysis = os.path.join(HERE, "ANALYSIS.md")
    if os.path.exists(analysis):
        with open(analysis) as f:
            out += [f.read().rstrip(), ""]
    with open(args.results, "w") as f:
        f.write("\n".join(out))
    with open(os.path.join(BUILD, "results.json"), "w") as f:
        json.dump({"values": fig.values, "errors": fig.errors, "notes": fig.notes}, f, indent=1)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--spawnd", default=os.path.join(os.path.dirname(HERE), "build", "spawnd"))
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=2.0, help="per measurement")
    ap.add_argument("--only", default="", help='figure ids, e.g. "P1 P4"')
    ap.add_argument("--results", default=os.path.join(HERE, "RESULTS.md"))
    ap.add_argument("--quick", action="store_true", help="smoke test: small P5 and P6")
    ap.add_argument("--mhd-pool", type=int, default=2, help="P4 baseline thread pool (as server/http.c)")
    args = ap.parse_args()
    args.spawnd = os.path.abspath(args.spawnd)
    args.command = "make bench" if os.environ.get("MAKELEVEL") else " ".join(["python3"] + sys.argv)
    only = set(args.only.split())
    args.wants = lambda fid: not only or fid in only
    args.rounds = max(1, min(args.rounds, 20))
    args.seconds = max(0.2, min(args.seconds, 10))
    args.p5_bytes = (64 << 20) if args.quick else GIB
    args.p5_rounds = args.rounds
    args.p6_workers = 500 if args.quick else 5000
    args.p6_rounds = min(args.rounds, 2)
    args.list_records = 100000

    started = datetime.datetime.now(datetime.timezone.utc)
    t_start = time.monotonic()
    fig = Figures()
    have_spawnd = os.access(args.spawnd, os.X_OK)
    with tempfile.TemporaryDirectory(prefix="spawnd-bench-") as tmp:
        targets_file = os.path.join(tmp, "targets.json")
        with open(targets_file, "w") as f:
            json.dump(EXEC_TARGETS, f)
        if not have_spawnd:
            msg = f"{args.spawnd} is missing (run `make` first)"
            for k in SPAWND_KEYS + ["P5.spawnd", "P6"]:
                fig.fail(k, msg)
        else:
            # Does this build take --targets? If not, P2 waits for it.
            try:
                with Spawnd(args.spawnd, targets_file):
                    pass
            except BenchError as e:
                fig.notes.append(f"P2: spawnd does not start with --targets yet ({e}); measured without it.")
                targets_file = None
        for r in range(args.rounds):
            log(f"round {r + 1}/{args.rounds}: P1 P7 P3 P4 P2")
            if have_spawnd:
                try:
                    round_spawnd_http(args, fig, r, tmp, targets_file)
                except BenchError as e:
                    for k in SPAWND_KEYS:
                        fig.fail(k, e)
                if args.wants("T") or args.wants("P1") or args.wants("P4"):
                    fig.attempt(["T.P1", "T.P4"], lambda: round_tls(args, fig, r, tmp))
            else:
                # Baselines still run, so the table shows what spawnd will face.
                for key, argv in (("P1.fork", [BASELINE, "fork", "-t", str(args.seconds)]),
                                  ("P3.fork2", [BASELINE, "fork", "-j", "2", "-t", str(args.seconds)])):
                    fig.attempt([key], lambda: fig.add(key, run_json(argv, args.seconds + 30)))
                if args.wants("P7"):
                    fig.attempt(["P7.python"], lambda: fig.add("P7.python", run_json(
                        [sys.executable, os.path.join(HERE, "p7.py"), "-t", str(args.seconds)],
                        args.seconds + 60)))
                if args.wants("P2"):
                    round_p2(args, fig, r, tmp, None)
        if args.wants("P5"):
            for r in range(args.p5_rounds):
                log(f"P5 round {r + 1}/{args.p5_rounds}")
                if have_spawnd:
                    round_p5(args, fig, r, tmp)
                else:
                    fig.attempt(["P5.pipe"], lambda: fig.add("P5.pipe", run_json(
                        [BASELINE, "pipe", "-b", str(args.p5_bytes)], 120)))
        if args.wants("S") and have_spawnd:
            for r in range(args.rounds):
                log(f"S round {r + 1}/{args.rounds}: P1 P3 per store, listing")
                round_store(args, fig, r, tmp, targets_file)
        if args.wants("P6") and have_spawnd:
            for r in range(args.p6_rounds):
                log(f"P6 round {r + 1}/{args.p6_rounds}")
                fig.attempt(["P6"], lambda: round_p6(args, fig, r, tmp))
    rows = build_rows(args, fig)
    write_results(args, fig, rows, started, time.monotonic() - t_start)
    log(f"wrote {args.results} in {time.monotonic() - t_start:.0f} s")
    for row in rows:
        print(f"{row.fid:13} {row.spawnd or '—':>34} | {row.base or '—':>34} | {row.ratio or '—':>22} "
              f"{row.goal:>9} {'' if row.met is None else ('met' if row.met else 'MISSED')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
