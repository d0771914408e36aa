#!/usr/bin/python3
"""repl_bench.py: replication benchmarks, ringkv vs redis-server 7.0 (issue 6).

Owns the two measurements of issue 6's "Benchmark" section, run side by side
in one invocation, one server kind at a time, the order alternating per round:

  fullsync  a master holding DEBUG POPULATE <keys> key <size> (defaults give
            about 2 GB of values; --scale shrinks it) and a fresh replica of
            the same kind and shard count on loopback: seconds from REPLICAOF
            to master_link_status:up on the replica (transfer and load), per
            sync mode (repl-diskless-sync yes with delay 0, and no: disk-based).
            DBSIZE (and with --digest 1 DEBUG DIGEST) must agree afterwards.
  tput      memtier_benchmark, --clients connections, 100% SET, --size byte
            values over --keys keys, for --seconds, against a master with no
            replica and with one replica of the same kind attached: ops/s,
            p99, and the replication lag (master_repl_offset minus the
            replica's acknowledged offset, INFO replication slave0) sampled
            every --sample-ms: its maximum, its value at the end of the load,
            and the seconds after the load until it is 0 again.

Process handling, clean-up on any exit, the Server class and the report
helpers come from snapshot_bench.py. A ringkv failure (crash, a sync that
never completes, data that differs after the sync) is recorded in
--bugs-file and makes the exit status 1.

--dry-small checks the script itself in well under 30 s without memtier:
20k keys, a Python load of 2 s instead of memtier, redis-server only unless
--shards names ringkv shard counts too.
"""
import argparse
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

import redis

import snapshot_bench as sb

MAX_SAMPLES = 200_000       # lag samples per run (~5 h at 100 ms)
POLL_S = 0.02               # link-status poll while a sync runs


def parse_args():
    p = argparse.ArgumentParser(description="Replication benchmark: ringkv vs redis-server, side by side.")
    p.add_argument("--ringkv-bin", default="build-bench/ringkv-server")
    p.add_argument("--redis-bin", default="/usr/bin/redis-server")
    p.add_argument("--memtier-bin", default=shutil.which("memtier_benchmark") or "/usr/local/bin/memtier_benchmark")
    p.add_argument("--shards", default=None, help="ringkv shard counts, space-separated (default '1 2'; none with --dry-small)")
    p.add_argument("--parts", default="fullsync tput", help="which measurements to run")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--sync-keys", type=int, default=2_000_000, help="DEBUG POPULATE keys for the full sync")
    p.add_argument("--sync-size", type=int, default=1000, help="DEBUG POPULATE value size for the full sync")
    p.add_argument("--scale", type=float, default=1.0, help="multiplies --sync-keys (0.01: ~20 MB)")
    p.add_argument("--sync-modes", default="diskless disk", help="full-sync modes: diskless, disk")
    p.add_argument("--sync-timeout", type=int, default=1200, help="seconds a full sync may take")
    p.add_argument("--digest", type=int, default=1, help="compare DEBUG DIGEST after each full sync (0/1)")
    p.add_argument("--clients", type=int, default=50)
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--keys", type=int, default=1_000_000)
    p.add_argument("--seconds", type=int, default=20)
    p.add_argument("--sample-ms", type=int, default=100)
    p.add_argument("--recover-timeout", type=int, default=120, help="seconds the lag may take to reach 0 after the load")
    p.add_argument("--load", choices=("memtier", "python"), default="memtier",
                   help="the write load of the tput part (python: a slow built-in one, for checks)")
    p.add_argument("--load-timeout", type=int, default=900, help="seconds a server start (and load) may take")
    p.add_argument("--tmp", default="/var/tmp", help="parent of the scratch directory (disk-based syncs write RDB files)")
    p.add_argument("--keep", action="store_true")
    p.add_argument("--bugs-file", default="bench/bugs.md")
    p.add_argument("--dry-small", action="store_true",
                   help="check the script: 20k keys x 100 B, 2 s of Python load, 1 round; redis-server only unless --shards is given")
    a = p.parse_args()
    if a.shards is None:
        a.shards = "" if a.dry_small else "1 2"
    if a.dry_small:
        a.rounds = 1
        a.sync_keys, a.sync_size, a.scale = 20_000, 100, 1.0
        a.seconds, a.keys, a.load = 2, 10_000, "python"
        a.tmp = tempfile.gettempdir()
        a.bugs_file = os.devnull
    a.shards = [int(s) for s in a.shards.split()]
    a.parts = a.parts.split()
    a.sync_modes = a.sync_modes.split()
    for part in a.parts:
        if part not in ("fullsync", "tput"):
            p.error(f"unknown part {part!r}")
    for mode in a.sync_modes:
        if mode not in ("diskless", "disk"):
            p.error(f"unknown sync mode {mode!r}")
    a.sync_keys = max(1, int(a.sync_keys * a.scale))
    a.ringkv_bin = os.path.abspath(a.ringkv_bin)
    return a


def server(args, kind, shards, work, tag, mode="diskless"):
    """A snapshot_bench.Server set up for replication (not started)."""
    d = os.path.join(work, f"{kind}-{shards}-{tag}")
    shutil.rmtree(d, ignore_errors=True)
    srv = sb.Server(args, kind, shards, d)
    srv.argv += ["--repl-diskless-sync", "yes" if mode == "diskless" else "no",
                 "--repl-diskless-sync-delay", "0",
                 "--repl-backlog-size", "64mb",
                 # a benchmark measures the stream, not the default limits
                 "--client-output-buffer-limit", "replica", "0", "0", "0"]
    srv.name += f" {tag}"
    return srv


def repl_info(client):
    return client.info("replication")


def wait_link_up(args, replica, timeout):
    """Seconds until the replica says master_link_status:up (polled)."""
    t0 = time.monotonic()
    deadline = t0 + timeout
    while time.monotonic() < deadline:
        replica.alive_or_fail("during the full sync")
        try:
            info = repl_info(replica.client)
            if info.get("master_link_status") == "up" and not info.get("master_sync_in_progress"):
                return time.monotonic()
        except redis.exceptions.BusyLoadingError:
            pass
        time.sleep(POLL_S)
    raise RuntimeError(f"{replica.name}: master link not up after {timeout} s")


def start_replica(args, replica, master):
    """REPLICAOF master on a started replica; returns (t_start, t_up)."""
    t0 = time.monotonic()
    replica.client.execute_command("REPLICAOF", "127.0.0.1", str(master.port))
    return t0, wait_link_up(args, replica, args.sync_timeout)


def same_data(args, master, replica, what):
    m = (master.client.dbsize(), master.client.execute_command("DEBUG", "DIGEST") if args.digest else None)
    r = (replica.client.dbsize(), replica.client.execute_command("DEBUG", "DIGEST") if args.digest else None)
    if m != r:
        if master.kind == "ringkv":
            sb.record_failure(args, f"{replica.name}: data differs from the master after {what}",
                              f"master {m}, replica {r}", args.reproduce)
        else:
            print(f"redis-server data differs after {what}: {m} vs {r}", file=sys.stderr)
    return m == r


def sync_run(args, kind, shards, work, mode):
    master = server(args, kind, shards, work, "master", mode)
    replica = server(args, kind, shards, work, "replica", mode)
    try:
        master.start()
        t = time.monotonic()
        master.client.execute_command("DEBUG", "POPULATE", args.sync_keys, "key", args.sync_size)
        populate_s = time.monotonic() - t
        used = int(master.info("memory")["used_memory"])
        replica.start()
        t0, t1 = start_replica(args, replica, master)
        ok = same_data(args, master, replica, f"a {mode} full sync")
        return {"name": master.name.split()[0], "kind": kind, "shards": shards, "mode": mode,
                "keys": args.sync_keys, "used": used, "populate_s": populate_s,
                "sync_s": t1 - t0, "ok": ok}
    finally:
        replica.stop()
        master.stop()
        sb.remove_dir(args, replica.dir)
        sb.remove_dir(args, master.dir)


class LagSampler(threading.Thread):
    """(time, lag bytes) every period from the master's INFO replication:
    master_repl_offset minus slave0's acknowledged offset."""

    def __init__(self, port, period_s):
        super().__init__(daemon=True)
        self.client = redis.Redis(port=port, socket_timeout=10)
        self.period = period_s
        self.samples = []
        self.halt = threading.Event()
        self.error = None

    def one(self):
        info = repl_info(self.client)
        slave = info.get("slave0")
        if not isinstance(slave, dict):
            return None
        return info["master_repl_offset"] - int(slave["offset"])

    def run(self):
        try:
            while not self.halt.is_set() and len(self.samples) < MAX_SAMPLES:
                lag = self.one()
                if lag is not None:
                    self.samples.append((time.monotonic(), lag))
                self.halt.wait(self.period)
        except (redis.exceptions.RedisError, OSError) as e:
            self.error = e
        finally:
            self.client.close()

    def stop(self):
        self.halt.set()
        self.join()


def memtier(args, port, out):
    argv = [args.memtier_bin, "-s", "127.0.0.1", "-p", str(port), "--protocol=redis",
            "-c", str(args.clients), "-t", "1", "--ratio=1:0", "-d", str(args.size),
            "--key-pattern=R:R", "--key-prefix=key:", "--key-minimum=1", f"--key-maximum={args.keys}",
            "--randomize", "--distinct-client-seed", "--hide-histogram", f"--json-out-file={out}",
            f"--test-time={args.seconds}"]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    sb.PROCS.append(proc)
    rc = proc.wait()
    sb.PROCS.remove(proc)
    if rc != 0:
        raise RuntimeError(f"memtier exited with {rc}: {shlex.join(argv)}")
    import json
    with open(out) as f:
        sets = json.load(f)["ALL STATS"]["Sets"]
    return sets["Ops/sec"], sets.get("Percentile Latencies", {}).get("p99.00", float("nan"))


def python_load(args, port):
    """A small closed-loop SET load (one connection, pipelines of 100) for
    --seconds: only for checking the script without memtier."""
    c = redis.Redis(port=port, socket_timeout=10)
    value = b"x" * args.size
    n, i = 0, 0
    t0 = time.monotonic()
    while time.monotonic() - t0 < args.seconds:
        p = c.pipeline(transaction=False)
        for _ in range(100):
            p.set(f"key:{i % args.keys + 1}", value)
            i += 1
        p.execute()
        n += 100
    c.close()
    return n / (time.monotonic() - t0), float("nan")


def tput_run(args, kind, shards, work, with_replica):
    tag = "with-replica" if with_replica else "alone"
    master = server(args, kind, shards, work, f"tput-{tag}")
    replica = server(args, kind, shards, work, f"tput-{tag}-replica") if with_replica else None
    sampler = None
    try:
        master.start()
        if replica:
            replica.start()
            start_replica(args, replica, master)
            sampler = LagSampler(master.port, args.sample_ms / 1000.0)
            sampler.start()
        if args.load == "memtier":
            ops, p99 = memtier(args, master.port, os.path.join(master.dir, "memtier.json"))
        else:
            ops, p99 = python_load(args, master.port)
        master.alive_or_fail("during the write load")
        row = {"name": master.name.split()[0], "kind": kind, "shards": shards,
               "replica": with_replica, "ops": ops, "p99": p99}
        if sampler:
            t_end = time.monotonic()
            end_lag = sampler.samples[-1][1] if sampler.samples else float("nan")
            # the lag after the load: how long until the replica acknowledged everything
            deadline = t_end + args.recover_timeout
            recover_s = None
            while time.monotonic() < deadline:
                if sampler.error or not sampler.is_alive():
                    break
                if sampler.samples and sampler.samples[-1][0] > t_end and sampler.samples[-1][1] == 0:
                    recover_s = sampler.samples[-1][0] - t_end
                    break
                time.sleep(args.sample_ms / 1000.0)
            sampler.stop()
            if sampler.error:
                raise RuntimeError(f"{master.name}: lag sampling failed: {sampler.error}")
            during = [lag for t, lag in sampler.samples if t <= t_end]
            row.update(max_lag=max(during) if during else float("nan"), end_lag=end_lag,
                       recover_s=recover_s, samples=len(during))
            if recover_s is None and kind == "ringkv":
                sb.record_failure(args, f"{master.name}: replication lag not back to 0 within "
                                  f"{args.recover_timeout} s after the load", f"last samples {sampler.samples[-5:]}",
                                  args.reproduce)
            replica.alive_or_fail("during the write load")
            same_data(args, master, replica, "the write load")
        return row
    finally:
        if sampler and sampler.is_alive():
            sampler.stop()
        if replica:
            replica.stop()
        master.stop()
        if replica:
            sb.remove_dir(args, replica.dir)
        sb.remove_dir(args, master.dir)


def mean(xs):
    xs = [x for x in xs if x is not None]
    return sum(xs) / len(xs) if xs else float("nan")


def label(kind, shards):
    return "redis" if kind == "redis" else f"ringkv, {shards} shard{'s' if shards > 1 else ''}"


def report_sync(args, rows):
    print(f"\n## Full sync: DEBUG POPULATE {args.sync_keys:,} key {args.sync_size} "
          f"({sb.mib(args.sync_keys * args.sync_size)} of values), master -> fresh replica "
          f"on loopback, REPLICAOF to master_link_status:up, mean of {args.rounds} rounds\n")
    by = {}
    for r in rows:
        by.setdefault((r["mode"], r["kind"], r["shards"]), []).append(r)
    ref = {m: mean([r["sync_s"] for r in by.get((m, "redis", 0), [])]) for m in args.sync_modes}
    sb.print_table(["server", "sync mode", "used_memory", "sync s", "vs redis", "data equal"],
                   [[label(k[1], k[2]), k[0], sb.mib(mean([r["used"] for r in rs])),
                     f"{mean([r['sync_s'] for r in rs]):.2f}",
                     f"{mean([r['sync_s'] for r in rs]) / ref[k[0]]:.2f}x" if ref.get(k[0]) else "",
                     "yes" if all(r["ok"] for r in rs) else "**no**"]
                    for k, rs in sorted(by.items(), key=lambda kv: (kv[0][0], kv[0][1] != "redis", kv[0][2]))])


def report_tput(args, rows):
    load = (f"memtier -c {args.clients} -t 1 --ratio=1:0 -d {args.size} --key-maximum={args.keys}"
            if args.load == "memtier" else f"Python load, one connection, pipelines of 100, -d {args.size}")
    print(f"\n## Master throughput with one replica vs none: {load}, {args.seconds} s, lag sampled every "
          f"{args.sample_ms} ms (master_repl_offset - acknowledged offset), mean of {args.rounds} rounds\n")
    by = {}
    for r in rows:
        by.setdefault((r["kind"], r["shards"]), {}).setdefault(r["replica"], []).append(r)
    out = []
    for (kind, shards), runs in sorted(by.items(), key=lambda kv: (kv[0][0] != "redis", kv[0][1])):
        alone, withr = runs.get(False, []), runs.get(True, [])
        a, w = mean([r["ops"] for r in alone]), mean([r["ops"] for r in withr])
        out.append([label(kind, shards), f"{a:,.0f}", f"{w:,.0f}",
                    f"{100 * (1 - w / a):.1f}%" if a == a and w == w and a else "",
                    f"{mean([r['p99'] for r in alone]):.2f} / {mean([r['p99'] for r in withr]):.2f}",
                    sb.mib(max([r["max_lag"] for r in withr], default=float("nan"))),
                    sb.mib(mean([r["end_lag"] for r in withr])),
                    f"{mean([r['recover_s'] for r in withr]):.2f}"
                    if all(r["recover_s"] is not None for r in withr) else "**not recovered**"])
    sb.print_table(["server", "ops/s alone", "ops/s 1 replica", "loss", "p99 ms alone / 1 replica",
                    "max lag", "lag at end", "lag to 0 s"], out)


def main():
    args = parse_args()
    need = [args.redis_bin] + ([args.ringkv_bin] if args.shards else []) + \
        ([args.memtier_bin] if args.load == "memtier" and "tput" in args.parts else [])
    for path in need:
        if not os.access(path, os.X_OK):
            sys.exit(f"repl_bench: {path} is not executable")
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, sb.on_signal)
    sb.check_alone()
    work = tempfile.mkdtemp(prefix="ringkv-replbench.", dir=args.tmp)
    args.reproduce = reproduce = "/usr/bin/python3 bench/repl_bench.py " + shlex.join(sys.argv[1:])
    print(f"# repl_bench  {time.strftime('%Y-%m-%d %H:%M')}  {sb.machine_notes()}")
    print(f"# reproduce: {reproduce}", flush=True)
    try:
        if "fullsync" in args.parts:
            rows = []
            for rnd in range(args.rounds):
                for kind, shards in sb.round_order(args, rnd):
                    for mode in args.sync_modes:
                        print(f"fullsync round {rnd + 1}: {kind} {shards or ''} {mode}", file=sys.stderr, flush=True)
                        r = sb.guarded(args, kind, shards, f"fullsync {mode}", sync_run, args, kind, shards, work, mode)
                        if r:
                            rows.append(r)
            report_sync(args, rows)
        if "tput" in args.parts:
            rows = []
            for rnd in range(args.rounds):
                for kind, shards in sb.round_order(args, rnd):
                    for with_replica in ((False, True) if rnd % 2 == 0 else (True, False)):
                        print(f"tput round {rnd + 1}: {kind} {shards or ''} replica={with_replica}",
                              file=sys.stderr, flush=True)
                        r = sb.guarded(args, kind, shards, "tput", tput_run, args, kind, shards, work, with_replica)
                        if r:
                            rows.append(r)
            report_tput(args, rows)
        print(f"\nreproduce: {reproduce}")
    finally:
        sb.cleanup_all()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    if sb.FAILURES:
        sys.exit(1)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(130)
