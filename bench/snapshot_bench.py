#!/usr/bin/python3
"""snapshot_bench.py: RDB snapshot and load benchmarks, ringkv vs redis-server 7.0.

Owns: the two measurements of issue 4's "Benchmark" section, run side by side
in one invocation, one server at a time, the servers alternating per round:

  bgsave  BGSAVE of a DEBUG POPULATE dataset while memtier_benchmark writes
          100% SETs over the same keys (same prefix "key:" and value size).
          Reported: memory above steady state during the snapshot (Redis:
          parent RSS + the fork child's private pages from smaps_rollup;
          ringkv: its RSS), sampled every --sample-ms; ops/s and p99 from
          memtier's per-second JSON time series before vs during the save;
          save duration (BGSAVE reply until INFO says it ended).
  load    DEBUG POPULATE <n> key <size>, timed SAVE, then a restart on that
          file: wall time from process start until PING answers PONG instead
          of -LOADING, and the server's own "DB loaded from disk" line. Each
          server also loads the other's file (file size vs loader speed), and
          DBSIZE and DEBUG DIGEST are compared with the server that wrote it.

Runs as one single-threaded process plus one memory-sampler thread. Every
child process (servers, memtier) is registered in PROCS as soon as it exists;
on any exit, Ctrl-C and SIGTERM included, each one and its descendants (Redis's
fork child) get SIGTERM, then SIGKILL after STOP_GRACE_S, and the one temp dir
is removed. Bounds: server start and load waits --load-timeout, saves
--save-timeout, the memory sample list holds at most MAX_SAMPLES entries.
Anything ringkv does wrong (crash, wrong DBSIZE or digest, failed or endless
save) is printed, appended to --bugs-file and makes the exit status 1.
"""
import argparse
import json
import os
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import redis

STOP_GRACE_S = 30          # SIGTERM -> SIGKILL for a server that will not exit
MAX_SAMPLES = 200_000      # memory samples per measurement (~5 h at 100 ms)
POLL_S = 0.02              # PING poll interval while a server starts or loads
LOG_WAIT_S = 2.0           # how long the "DB loaded" log line may lag behind PONG
PROCS = []                 # every subprocess.Popen started, for cleanup
FAILURES = []              # ringkv misbehaviour found in this run


def env_default(name, default):
    return os.environ.get(name, default)


def parse_args():
    p = argparse.ArgumentParser(
        description="RDB snapshot/load benchmark: ringkv vs redis-server, side by side.",
        epilog="Every flag also reads SNAP_<FLAG> from the environment (e.g. SNAP_BG_KEYS).")

    def arg(flag, default, kind=str, help_=""):
        env = "SNAP_" + flag.lstrip("-").upper().replace("-", "_")
        p.add_argument(flag, type=kind, default=kind(env_default(env, default)), help=f"{help_} (env {env}, default %(default)s)")

    arg("--ringkv-bin", "build-bench/ringkv-server", str, "ringkv-server binary")
    arg("--redis-bin", "/usr/bin/redis-server", str, "redis-server binary")
    arg("--shards", "1 2", str, "ringkv shard counts, space-separated")
    arg("--rounds", 1, int, "alternating rounds per measurement")
    arg("--parts", "bgsave load", str, "which measurements to run")
    arg("--bg-keys", 15_000_000, int, "keys populated for the BGSAVE measurement")
    arg("--bg-size", 100, int, "value size for the BGSAVE measurement")
    arg("--before", 10, int, "seconds of load before BGSAVE")
    arg("--after", 3, int, "seconds of load after the save ends")
    arg("--warmup", 2, int, "first seconds of load ignored")
    arg("--clients", 50, int, "memtier connections (one thread)")
    arg("--sample-ms", 100, int, "memory sampling period")
    arg("--load-keys", 10_000_000, int, "keys for the SAVE / load measurement")
    arg("--load-size", 100, int, "value size for the SAVE / load measurement")
    arg("--digest", 1, int, "compare DEBUG DIGEST after each load (0/1)")
    arg("--save-timeout", 900, int, "seconds a save may take before it counts as hung")
    arg("--load-timeout", 900, int, "seconds a start-up load may take")
    arg("--memtier-bin", shutil.which("memtier_benchmark") or "/usr/local/bin/memtier_benchmark", str, "memtier_benchmark")
    arg("--bugs-file", "/tmp/bench-bugs.md", str, "where ringkv misbehaviour is appended")
    arg("--tmp", tempfile.gettempdir(), str, "parent of the scratch directory (needs disk for the RDB files)")
    p.add_argument("--keep", action="store_true", default=env_default("SNAP_KEEP", "0") == "1",
                   help="keep the scratch directory (logs, memtier JSON; RDB files are still removed) (env SNAP_KEEP=1)")
    p.add_argument("--quick", action="store_true", default=env_default("SNAP_QUICK", "0") == "1",
                   help="about a minute: 300k keys for both parts, 4 s before BGSAVE (env SNAP_QUICK=1)")
    a = p.parse_args()
    if a.quick:
        a.bg_keys = a.load_keys = 300_000
        a.before, a.after, a.warmup = 4, 1, 1
    a.shards = [int(s) for s in a.shards.split()]
    a.parts = a.parts.split()
    a.ringkv_bin = os.path.abspath(a.ringkv_bin)
    return a


# ---------------------------------------------------------------- processes

def descendants(pid):
    """Pids whose parent chain reaches pid (Redis's fork child), from /proc."""
    parent = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                parent[int(d)] = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
    out, frontier = [], [pid]
    while frontier:
        kids = [c for c, pp in parent.items() if pp in frontier]
        out += kids
        frontier = kids
    return out


def signal_pids(pids, sig):
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def stop_proc(proc, sig=signal.SIGTERM):
    """Stop proc and its descendants; returns its exit status."""
    if proc.poll() is None:
        kids = descendants(proc.pid)
        signal_pids([proc.pid], sig)
        try:
            proc.wait(STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            signal_pids([proc.pid], signal.SIGKILL)
            proc.wait()
        signal_pids(kids, signal.SIGKILL)   # a fork child outliving its parent
    if proc in PROCS:
        PROCS.remove(proc)
    return proc.returncode


def cleanup_all():
    for proc in list(PROCS):
        stop_proc(proc)


def on_signal(signum, _frame):
    raise SystemExit(128 + signum)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def remove_dir(args, path):
    """A server's directory: gone, or with --keep only its RDB files gone (they are GBs)."""
    if not args.keep:
        shutil.rmtree(path, ignore_errors=True)
        return
    for name in os.listdir(path):
        if name.endswith(".rdb"):
            os.unlink(os.path.join(path, name))


def record_failure(args, what, detail, reproduce):
    msg = f"- {time.strftime('%Y-%m-%d %H:%M:%S')} snapshot_bench: {what}: {detail}\n  reproduce: `{reproduce}`\n"
    FAILURES.append(msg)
    print("!!! ringkv problem: " + msg, file=sys.stderr, flush=True)
    try:
        with open(args.bugs_file, "a") as f:
            f.write(msg)
    except OSError as e:
        print(f"cannot append to {args.bugs_file}: {e}", file=sys.stderr)


class Server:
    """One server process on a free loopback port, data in its own dir."""

    def __init__(self, args, kind, shards, workdir):
        self.args, self.kind, self.shards = args, kind, shards
        self.name = "redis" if kind == "redis" else f"ringkv/{shards}"
        self.dir = workdir
        os.makedirs(self.dir, exist_ok=True)
        self.log = os.path.join(self.dir, "server.log")
        self.port = free_port()
        common = ["--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.dir,
                  "--dbfilename", "dump.rdb", "--save", "", "--enable-debug-command", "yes"]
        if kind == "redis":
            self.argv = [args.redis_bin] + common + ["--appendonly", "no"]
        else:
            self.argv = [args.ringkv_bin] + common + ["--shards", str(shards)]
        self.proc = None
        self.client = None
        self.started = None

    def command_line(self):
        return " ".join(shlex.quote(a) for a in self.argv)

    def start(self):
        """Start and wait until PING answers PONG; returns seconds from exec to PONG."""
        with open(self.log, "ab") as logf:
            self.started = time.monotonic()
            self.proc = subprocess.Popen(self.argv, stdout=logf, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL)
        PROCS.append(self.proc)
        deadline = self.started + self.args.load_timeout
        client = redis.Redis(port=self.port, socket_connect_timeout=1, socket_timeout=5)
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode} during start-up; "
                                   f"log tail:\n{self.log_tail()}")
            try:
                if client.ping():
                    ready = time.monotonic() - self.started
                    client.close()
                    self.client = redis.Redis(port=self.port, socket_timeout=None)
                    return ready
            except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError):
                pass    # not listening yet, or -LOADING (BusyLoadingError is a ConnectionError)
            time.sleep(POLL_S)
        raise RuntimeError(f"{self.name} did not answer PING within {self.args.load_timeout} s")

    def stop(self):
        if self.proc is None:
            return
        if self.client is not None:
            self.client.close()
        rc = stop_proc(self.proc)
        self.proc = None
        if rc not in (0, -signal.SIGTERM) and self.kind == "ringkv":
            record_failure(self.args, f"{self.name} exit status {rc} on SIGTERM",
                           self.log_tail(), self.command_line())

    def alive_or_fail(self, what):
        if self.proc.poll() is not None:
            raise RuntimeError(f"{self.name} died ({self.proc.returncode}) {what}; log tail:\n{self.log_tail()}")

    def log_tail(self, n=15):
        try:
            with open(self.log, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def loaded_seconds(self):
        """The server's own 'DB loaded from disk: X seconds' figure, or None.
        Waits up to LOG_WAIT_S for it: ringkv has been seen to answer PONG a
        moment before writing that line."""
        deadline = time.monotonic() + LOG_WAIT_S
        while True:
            try:
                with open(self.log, errors="replace") as f:
                    hits = re.findall(r"DB loaded from disk: ([0-9.]+) seconds", f.read())
            except OSError:
                hits = []
            if hits or time.monotonic() >= deadline:
                return float(hits[-1]) if hits else None
            time.sleep(POLL_S)

    def info(self, section):
        return self.client.info(section)

    def dump_path(self):
        return os.path.join(self.dir, "dump.rdb")


# ---------------------------------------------------------------- memory

def status_rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def private_kb(pid):
    """Private_Clean + Private_Dirty of pid: what a fork child holds on its own."""
    total = 0
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith(("Private_Clean:", "Private_Dirty:")):
                total += int(line.split()[1])
    return total


class MemSampler(threading.Thread):
    """Samples (time, server bytes) every period: the server's RSS plus the
    private pages of its descendants, which is the physical memory both hold."""

    def __init__(self, pid, period_s):
        super().__init__(daemon=True)
        self.pid, self.period = pid, period_s
        self.samples = []
        self.halt = threading.Event()

    def one(self):
        kb = status_rss_kb(self.pid)
        for child in descendants(self.pid):
            try:
                kb += private_kb(child)
            except (OSError, ValueError):
                pass    # the child exited between listing and reading
        return kb * 1024

    def run(self):
        while not self.halt.is_set() and len(self.samples) < MAX_SAMPLES:
            try:
                self.samples.append((time.time(), self.one()))
            except (OSError, ValueError):
                return    # the server is gone
            self.halt.wait(self.period)

    def stop(self):
        self.halt.set()
        self.join()

    def window(self, t0, t1):
        return [b for t, b in self.samples if t0 <= t < t1]


# ---------------------------------------------------------------- memtier

def memtier_argv(args, port, keys, size, out):
    return [args.memtier_bin, "-s", "127.0.0.1", "-p", str(port), "--protocol=redis",
            "-c", str(args.clients), "-t", "1", "--ratio=1:0", "-d", str(size),
            "--key-pattern=R:R", "--key-prefix=key:", "--key-minimum=1",
            f"--key-maximum={keys - 1}", f"--test-time={args.before + args.save_timeout + args.after + 60}",
            "--hide-histogram", f"--json-out-file={out}"]


def series(json_path):
    """[(start_epoch_s, count, p99_ms)] per second of the run, from memtier's JSON."""
    with open(json_path) as f:
        d = json.load(f)
    start = d["ALL STATS"]["Runtime"]["Start time"] / 1000.0
    ts = d["ALL STATS"]["Sets"]["Time-Serie"]
    return [(start + int(sec), v["Count"], v.get("p99.00", 0.0))
            for sec, v in sorted(ts.items(), key=lambda kv: int(kv[0]))]


def window_stats(rows, t0, t1):
    """ops/s, median and worst per-second p99 of the seconds lying inside [t0, t1);
    the seconds overlapping it when no whole second fits (a save under ~2 s)."""
    inside = [r for r in rows if r[0] >= t0 and r[0] + 1 <= t1]
    if not inside:
        inside = [r for r in rows if r[0] < t1 and r[0] + 1 > t0]
    if not inside:
        return None
    return {"ops": sum(r[1] for r in inside) / len(inside),
            "p99": statistics.median(r[2] for r in inside),
            "p99_worst": max(r[2] for r in inside),
            "seconds": len(inside)}


# ---------------------------------------------------------------- part 1

def wait_bgsave(args, srv, lastsave_before):
    """Polls until the running save has ended: INFO says none is in progress and
    LASTSAVE moved (or the save failed). Returns (end time or None, whether INFO
    ever said "not in progress" while LASTSAVE had not moved yet)."""
    deadline = time.monotonic() + args.save_timeout
    flag_lied = False
    while time.monotonic() < deadline:
        srv.alive_or_fail("during BGSAVE")
        pers = srv.info("persistence")
        if int(pers.get("rdb_bgsave_in_progress", 0)) == 0:
            if pers.get("rdb_last_bgsave_status") != "ok" or srv.client.lastsave() != lastsave_before:
                return time.time(), flag_lied
            flag_lied = True
        time.sleep(args.sample_ms / 1000.0)
    return None, flag_lied


def bgsave_run(args, kind, shards, work):
    srv = Server(args, kind, shards, os.path.join(work, f"bg-{kind}-{shards}"))
    srv.start()
    result = {"name": srv.name}
    sampler = memtier = None
    try:
        t = time.monotonic()
        srv.client.execute_command("DEBUG", "POPULATE", args.bg_keys, "key", args.bg_size)
        result["populate_s"] = time.monotonic() - t
        result["used_memory"] = int(srv.info("memory")["used_memory"])
        time.sleep(1)
        sampler = MemSampler(srv.proc.pid, args.sample_ms / 1000.0)
        sampler.start()
        out = os.path.join(srv.dir, "memtier.json")
        margv = memtier_argv(args, srv.port, args.bg_keys, args.bg_size, out)
        with open(os.path.join(srv.dir, "memtier.log"), "wb") as mlog:
            memtier = subprocess.Popen(margv, stdout=mlog, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        PROCS.append(memtier)
        t_load = time.time()
        time.sleep(args.before)
        srv.alive_or_fail("under load before BGSAVE")
        lastsave = srv.client.lastsave()
        t_bg = time.time()
        reply = srv.client.execute_command("BGSAVE")
        t_end, flag_lied = wait_bgsave(args, srv, lastsave)
        if flag_lied and kind == "ringkv":
            record_failure(args, f"{srv.name} INFO rdb_bgsave_in_progress:0 while BGSAVE still ran",
                           "LASTSAVE had not moved yet", bench_command(args))
        if t_end is None:
            if kind == "ringkv":
                record_failure(args, f"{srv.name} BGSAVE did not end within {args.save_timeout} s",
                               f"{args.bg_keys} keys of {args.bg_size} B under memtier SET load",
                               bench_command(args))
            t_end = time.time()
            result["hung"] = True
        time.sleep(args.after)
        memtier.send_signal(signal.SIGINT)   # memtier writes its JSON when interrupted
        try:
            memtier.wait(60)
        finally:
            stop_proc(memtier)
            memtier = None
        sampler.stop()
        srv.alive_or_fail("after BGSAVE")
        pers = srv.info("persistence")
        result["status"] = pers.get("rdb_last_bgsave_status")
        result["cow"] = int(pers.get("rdb_last_cow_size", 0))
        result["save_s"] = t_end - t_bg
        result["reply"] = reply.decode() if isinstance(reply, bytes) else str(reply)
        result["dbsize"] = srv.client.dbsize()
        result["file"] = os.path.getsize(srv.dump_path()) if os.path.exists(srv.dump_path()) else 0
        steady = sampler.window(t_load + args.warmup, t_bg)
        peak = sampler.window(t_bg, t_end + 1.0)
        result["steady"] = statistics.median(steady) if steady else 0
        result["peak"] = max(peak) if peak else 0
        rows = series(out)
        result["before"] = window_stats(rows, t_load + args.warmup, t_bg)
        result["during"] = window_stats(rows, t_bg, t_end)
        if kind == "ringkv":
            check_bgsave(args, srv, result)
    finally:
        if memtier is not None:
            stop_proc(memtier)
        if sampler is not None:
            sampler.stop()
        srv.stop()
        remove_dir(args, srv.dir)
    return result


def check_bgsave(args, srv, r):
    problems = []
    if r["status"] != "ok":
        problems.append(f"rdb_last_bgsave_status={r['status']}")
    if r["dbsize"] != args.bg_keys:
        problems.append(f"DBSIZE {r['dbsize']} after the save, expected {args.bg_keys}")
    if r["file"] == 0:
        problems.append("no dump.rdb after BGSAVE")
    if problems:
        record_failure(args, f"{srv.name} BGSAVE under load", "; ".join(problems), bench_command(args))


# ---------------------------------------------------------------- part 2

def digest(args, srv):
    return srv.client.execute_command("DEBUG", "DIGEST") if args.digest else None


def save_run(args, kind, shards, work):
    """Populate, SAVE, restart on the file. Returns the result and the file path."""
    srv = Server(args, kind, shards, os.path.join(work, f"save-{kind}-{shards}"))
    srv.start()
    r = {"name": srv.name, "writer": srv.name}
    try:
        srv.client.execute_command("DEBUG", "POPULATE", args.load_keys, "key", args.load_size)
        r["digest"] = digest(args, srv)
        t = time.monotonic()
        srv.client.execute_command("SAVE")
        r["save_s"] = time.monotonic() - t
        r["file"] = os.path.getsize(srv.dump_path())
    finally:
        srv.stop()
    saved = os.path.join(work, f"dump-{kind}-{shards}.rdb")
    os.replace(srv.dump_path(), saved)
    remove_dir(args, srv.dir)
    return r, saved


def load_run(args, kind, shards, work, rdb, expect):
    """Start a server on a copy of rdb; time until PONG; check DBSIZE and digest."""
    srv = Server(args, kind, shards, os.path.join(work, f"load-{kind}-{shards}"))
    shutil.copyfile(rdb, srv.dump_path())
    r = {"name": srv.name, "writer": expect["writer"], "file": os.path.getsize(rdb)}
    try:
        r["wall_s"] = srv.start()
        r["log_s"] = srv.loaded_seconds()
        r["rss"] = status_rss_kb(srv.proc.pid) * 1024
        r["dbsize"] = srv.client.dbsize()
        got = digest(args, srv)
        r["digest_ok"] = got == expect["digest"]
        if kind == "ringkv" and (r["dbsize"] != args.load_keys or not r["digest_ok"]):
            record_failure(args, f"{srv.name} loaded {expect['writer']}'s dump.rdb wrongly",
                           f"DBSIZE {r['dbsize']} (expected {args.load_keys}), digest {got!r} vs {expect['digest']!r}",
                           srv.command_line())
    except (RuntimeError, redis.exceptions.RedisError) as e:
        if kind == "ringkv":
            record_failure(args, f"{srv.name} failed to load {expect['writer']}'s dump.rdb", str(e), srv.command_line())
        r["error"] = str(e).splitlines()[0]
    finally:
        srv.stop()
        remove_dir(args, srv.dir)
    return r


def guarded(args, kind, shards, what, fn, *fn_args):
    """fn(*fn_args), or None when the server failed (died, never answered): a
    ringkv failure is recorded and the run goes on with the next server."""
    try:
        return fn(*fn_args)
    except (RuntimeError, redis.exceptions.RedisError) as e:
        name = "redis" if kind == "redis" else f"ringkv/{shards}"
        if kind == "ringkv":
            # another benchmark reusing this helper says how to reproduce it
            record_failure(args, f"{name} failed during {what}", str(e),
                           getattr(args, "reproduce", None) or bench_command(args))
        else:
            print(f"redis-server failed during {what}: {e}", file=sys.stderr)
        return None


# ---------------------------------------------------------------- report

def configs(args):
    return [("redis", 0)] + [("ringkv", s) for s in args.shards]


def round_order(args, rnd):
    """Alternate the servers: forward on even rounds, reversed on odd ones."""
    c = configs(args)
    return c if rnd % 2 == 0 else c[::-1]


def gib(b):
    return f"{b / 2**30:.2f} GiB"


def mib(b):
    return f"{b / 2**20:,.0f} MiB"


def print_table(header, rows):
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(str(x) for x in row) + " |")
    print()


def report_bgsave(args, results):
    print(f"\n### BGSAVE under 100% SET load: {args.bg_keys:,} keys x {args.bg_size} B, "
          f"memtier -c {args.clients} -t 1 pipeline 1\n")
    rows = []
    for r in results:
        b, d = r["before"] or {}, r["during"] or {}
        extra = r["peak"] - r["steady"]
        pct = 100.0 * extra / r["steady"] if r["steady"] else 0
        rows.append([r["name"], mib(r["used_memory"]), mib(r["steady"]), f"{mib(extra)} ({pct:.1f}%)",
                     mib(r["cow"]), f"{r['save_s']:.1f}" + (" HUNG" if r.get("hung") else ""),
                     f"{b.get('ops', 0):,.0f} / {d.get('ops', 0):,.0f}",
                     f"{b.get('p99', 0):.2f} / {d.get('p99', 0):.2f} (worst {d.get('p99_worst', 0):.2f})",
                     f"{d.get('p99', 0) / b['p99']:.2f}" if b.get("p99") else "-",
                     f"{r['status']}, {mib(r['file'])}"])
    print_table(["server", "used_memory", "steady RSS", "extra peak (% of steady)", "rdb_last_cow_size",
                 "save s", "ops/s before / during", "p99 ms before / during", "p99 ratio", "status, file"], rows)
    print("extra peak = max(server RSS + fork child's private pages) during the save - median before it; "
          "p99 = median of memtier's per-second p99 over the window.\n"
          "Goals: extra < 10% of the dataset; p99 during <= 2x p99 before.")


def report_load(args, saves, loads):
    print(f"\n### SAVE and start-up load: {args.load_keys:,} keys x {args.load_size} B\n")
    print_table(["server", "SAVE s", "dump.rdb"],
                [[r["name"], f"{r['save_s']:.2f}", mib(r["file"])] for r in saves])
    rows = []
    for r in loads:
        if "error" in r:
            rows.append([r["name"], r["writer"], mib(r["file"]), "FAILED: " + r["error"], "-", "-", "-"])
            continue
        rows.append([r["name"], r["writer"], mib(r["file"]), f"{r['wall_s']:.2f}",
                     f"{r['log_s']:.2f}" if r["log_s"] is not None else "-", mib(r["rss"]),
                     f"{r['dbsize']:,}" + ("" if not args.digest else (" digest ok" if r["digest_ok"] else " DIGEST DIFFERS"))])
    print_table(["loader", "file written by", "file size", "start to PONG s", "log 'DB loaded' s", "RSS after", "check"], rows)


def bench_command(args):
    env = " ".join(f"SNAP_{k.upper()}={shlex.quote(str(v))}" for k, v in (
        ("bg_keys", args.bg_keys), ("bg_size", args.bg_size), ("before", args.before),
        ("after", args.after), ("warmup", args.warmup), ("clients", args.clients),
        ("load_keys", args.load_keys), ("load_size", args.load_size), ("rounds", args.rounds),
        ("shards", " ".join(map(str, args.shards))), ("parts", " ".join(args.parts))))
    return f"{env} /usr/bin/python3 bench/snapshot_bench.py --ringkv-bin {shlex.quote(args.ringkv_bin)}"


def machine_notes():
    cpus = os.cpu_count()
    with open("/proc/meminfo") as f:
        mem = int(f.readline().split()[1]) / 2**20
    kernel = os.uname().release
    ver = subprocess.run(["redis-server", "--version"], capture_output=True, text=True).stdout.split()
    redis_ver = next((w for w in ver if w.startswith("v=")), "?")
    return f"{cpus} CPUs, {mem:.0f} GiB RAM, kernel {kernel}, redis-server {redis_ver}"


def check_alone():
    """Warn about other servers running: they take the cores we measure on."""
    others = []
    for d in os.listdir("/proc"):
        if d.isdigit() and int(d) != os.getpid():
            try:
                with open(f"/proc/{d}/comm") as f:
                    comm = f.read().strip()
            except OSError:
                continue
            if comm in ("redis-server", "ringkv-server", "memtier_benchmar"):
                others.append(f"{comm}[{d}]")
    if others:
        print("warning: other servers are running and will skew the figures: " + ", ".join(others), file=sys.stderr)


# ---------------------------------------------------------------- main

def main():
    args = parse_args()
    for path in (args.ringkv_bin, args.redis_bin, args.memtier_bin):
        if not os.access(path, os.X_OK):
            sys.exit(f"snapshot_bench: {path} is not executable")
    # Ctrl-C must reach us even when started from a shell that ignores SIGINT
    # for background jobs; our children then get the default disposition too.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    check_alone()
    work = tempfile.mkdtemp(prefix="ringkv-snapbench.", dir=args.tmp)
    print(f"# snapshot_bench  {time.strftime('%Y-%m-%d %H:%M')}  {machine_notes()}")
    print(f"# reproduce: {bench_command(args)}", flush=True)
    try:
        if "bgsave" in args.parts:
            results = []
            for rnd in range(args.rounds):
                for kind, shards in round_order(args, rnd):
                    print(f"bgsave round {rnd + 1}: {kind} {shards or ''}", file=sys.stderr, flush=True)
                    r = guarded(args, kind, shards, "BGSAVE under load", bgsave_run, args, kind, shards, work)
                    if r is not None:
                        results.append(r)
            report_bgsave(args, results)
        if "load" in args.parts:
            saves, loads = [], []
            for rnd in range(args.rounds):
                files = {}
                for kind, shards in round_order(args, rnd):
                    print(f"save round {rnd + 1}: {kind} {shards or ''}", file=sys.stderr, flush=True)
                    got = guarded(args, kind, shards, "SAVE", save_run, args, kind, shards, work)
                    if got is None:
                        continue
                    r, path = got
                    saves.append(r)
                    files[(kind, shards)] = (r, path)
                    loads.append(load_run(args, kind, shards, work, path, r))
                # Cross loads: redis reads the file of ringkv's first shard count, every
                # ringkv reads redis's file; same file bytes, different loader.
                first = ("ringkv", args.shards[0]) if args.shards else None
                if first in files:
                    loads.append(load_run(args, "redis", 0, work, files[first][1], files[first][0]))
                if ("redis", 0) in files:
                    redis_result, redis_file = files[("redis", 0)]
                    for s in args.shards:
                        loads.append(load_run(args, "ringkv", s, work, redis_file, redis_result))
                for _r, path in files.values():
                    os.unlink(path)
            report_load(args, saves, loads)
        print(f"\nreproduce: {bench_command(args)}")
    finally:
        cleanup_all()
        if args.keep:
            print(f"kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    if FAILURES:
        print(f"\n{len(FAILURES)} ringkv problem(s), appended to {args.bugs_file}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(130)
