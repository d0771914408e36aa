#!/usr/bin/python3
"""aof_bench.py: AOF benchmarks, ringkv vs redis-server 7.0 (issue 5).

Owns the two measurements of issue 5's "Benchmark" section, run side by side
in one invocation, one server at a time, the order alternating per round:

  write    memtier_benchmark, --clients connections, 100% SET, --size byte
           values over --keys keys, for --seconds: ops/s and p99 with
           appendfsync always and everysec on both servers, and ringkv
           without AOF (the everysec goal is relative to it).
  restart  the same history on both servers (everysec; memtier writes
           --history-requests SETs per connection), then a restart timed from
           exec to the first PONG; then BGREWRITEAOF, and a restart again.
           DBSIZE and DEBUG DIGEST must survive each restart.

The data directory is on the disk that holds --tmp (fsync must reach a real
device: not a tmpfs). Process handling, clean-up on any exit and the Server
class come from snapshot_bench.py. A ringkv failure (crash, digest changed
across a restart) is recorded in --bugs-file and makes the exit status 1.
"""
import argparse
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import snapshot_bench as sb


def parse_args():
    p = argparse.ArgumentParser(description="AOF benchmark: ringkv vs redis-server, side by side.")
    p.add_argument("--ringkv-bin", default="build-bench/ringkv-server")
    p.add_argument("--redis-bin", default="/usr/bin/redis-server")
    p.add_argument("--memtier-bin", default="/usr/local/bin/memtier_benchmark")
    p.add_argument("--shards", default="1 2", help="ringkv shard counts, space-separated")
    p.add_argument("--parts", default="write restart")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--clients", type=int, default=50)
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--keys", type=int, default=1_000_000)
    p.add_argument("--seconds", type=int, default=20)
    p.add_argument("--history-requests", type=int, default=60_000, help="SETs per connection for the restart part")
    p.add_argument("--load-timeout", type=int, default=600)
    p.add_argument("--tmp", default="/var/tmp")
    p.add_argument("--keep", action="store_true")
    p.add_argument("--bugs-file", default="bench/bugs.md")
    a = p.parse_args()
    a.shards = [int(s) for s in a.shards.split()]
    a.parts = a.parts.split()
    return a


def server(args, kind, shards, work, tag, fsync):
    """A snapshot_bench.Server with the AOF set up (fsync None: AOF off)."""
    d = os.path.join(work, f"{kind}-{shards}-{tag}")
    shutil.rmtree(d, ignore_errors=True)
    srv = sb.Server(args, kind, shards, d)
    if fsync is None:
        srv.argv += ["--appendonly", "no"]
    else:
        srv.argv += ["--appendonly", "yes", "--appendfsync", fsync,
                     "--auto-aof-rewrite-percentage", "0"]
    srv.name += f" {fsync or 'no-aof'}"
    return srv


def memtier(args, port, out, seconds=None, requests=None):
    argv = [args.memtier_bin, "-s", "127.0.0.1", "-p", str(port), "--protocol=redis",
            "-c", str(args.clients), "-t", "1", "--ratio=1:0", "-d", str(args.size),
            "--key-pattern=R:R", "--key-prefix=key:", "--key-minimum=1",
            f"--key-maximum={args.keys}", "--randomize", "--distinct-client-seed", "--hide-histogram", f"--json-out-file={out}"]
    argv += [f"--test-time={seconds}"] if seconds else [f"--requests={requests}"]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    sb.PROCS.append(proc)
    rc = proc.wait()
    sb.PROCS.remove(proc)
    if rc != 0:
        raise RuntimeError(f"memtier exited with {rc}: {shlex.join(argv)}")
    with open(out) as f:
        sets = json.load(f)["ALL STATS"]["Sets"]
    p99 = sets.get("Percentile Latencies", {}).get("p99.00", float("nan"))
    return sets["Ops/sec"], p99


def write_run(args, kind, shards, work, fsync):
    srv = server(args, kind, shards, work, "write", fsync)
    srv.start()
    try:
        ops, p99 = memtier(args, srv.port, os.path.join(srv.dir, "memtier.json"), seconds=args.seconds)
        srv.alive_or_fail("during the write benchmark")
        return {"name": srv.name, "kind": kind, "shards": shards, "fsync": fsync, "ops": ops, "p99": p99}
    finally:
        srv.stop()
        sb.remove_dir(args, srv.dir)


def digest(srv):
    return srv.client.dbsize(), srv.client.execute_command("DEBUG", "DIGEST")


def timed_restart(args, srv, expect, what):
    srv.stop()
    seconds = srv.start()
    got = digest(srv)
    if got != expect and srv.kind == "ringkv":
        sb.record_failure(args, f"{srv.name}: dataset changed across a restart {what}",
                          f"{expect} -> {got}", srv.command_line())
    return seconds


def wait_rewrite(srv, timeout):
    deadline = time.monotonic() + timeout
    while True:
        info = srv.client.info("persistence")
        if not info["aof_rewrite_in_progress"] and not info["aof_rewrite_scheduled"]:
            return info
        if time.monotonic() > deadline:
            raise RuntimeError(f"{srv.name}: BGREWRITEAOF still running after {timeout} s")
        time.sleep(0.1)


def aof_bytes(srv):
    total = 0
    for root, _dirs, files in os.walk(os.path.join(srv.dir, "appendonlydir")):
        total += sum(os.path.getsize(os.path.join(root, f)) for f in files)
    return total


def restart_run(args, kind, shards, work):
    srv = server(args, kind, shards, work, "restart", "everysec")
    srv.start()
    try:
        memtier(args, srv.port, os.path.join(srv.dir, "memtier.json"), requests=args.history_requests)
        expect = digest(srv)
        size_history = aof_bytes(srv)
        t_history = timed_restart(args, srv, expect, "from the write history")
        srv.client.execute_command("BGREWRITEAOF")
        wait_rewrite(srv, args.load_timeout)
        size_rewritten = aof_bytes(srv)
        t_rewritten = timed_restart(args, srv, expect, "after BGREWRITEAOF")
        return {"name": srv.name, "kind": kind, "shards": shards, "keys": expect[0],
                "history_s": t_history, "history_mib": size_history / 2**20,
                "rewritten_s": t_rewritten, "rewritten_mib": size_rewritten / 2**20}
    finally:
        srv.stop()
        sb.remove_dir(args, srv.dir)


def mean(xs):
    return sum(xs) / len(xs) if xs else float("nan")


def report_write(args, rows):
    print(f"\n## Write throughput: memtier -c {args.clients} -t 1, 100% SET, {args.size} B values, "
          f"{args.keys} keys, {args.seconds} s, mean of {args.rounds} rounds\n")
    by = {}
    for r in rows:
        by.setdefault((r["kind"], r["shards"], r["fsync"]), []).append(r)
    ref = {f: mean([r["ops"] for r in by.get(("redis", 0, f), [])]) for f in ("always", "everysec")}
    sb.print_table(["server", "appendfsync", "ops/s", "p99 ms", "vs redis (same fsync)", "vs same ringkv, no AOF"],
                   [[rs[0]["name"].split()[0], k[2] or "(AOF off)", f"{mean([r['ops'] for r in rs]):,.0f}",
                     f"{mean([r['p99'] for r in rs]):.2f}",
                     f"{mean([r['ops'] for r in rs]) / ref[k[2]]:.2f}x" if k[2] in ref else "",
                     f"{mean([r['ops'] for r in rs]) / mean([r['ops'] for r in by[(k[0], k[1], None)]]):.2f}x"
                     if (k[0], k[1], None) in by else ""]
                    for k, rs in by.items()])


def report_restart(args, rows):
    print(f"\n## Restart from the AOF: {args.clients * args.history_requests:,} SETs over {args.keys} keys "
          f"(everysec), then after BGREWRITEAOF; seconds from exec to PONG, mean of {args.rounds} rounds\n")
    by = {}
    for r in rows:
        by.setdefault(r["name"], []).append(r)
    ref = by.get("redis everysec")
    sb.print_table(["server", "keys", "history MiB", "restart s", "vs redis", "rewritten MiB", "restart s", "vs redis"],
                   [[name, rs[0]["keys"], f"{mean([r['history_mib'] for r in rs]):.0f}",
                     f"{mean([r['history_s'] for r in rs]):.2f}",
                     f"{mean([r['history_s'] for r in rs]) / mean([r['history_s'] for r in ref]):.2f}x" if ref else "",
                     f"{mean([r['rewritten_mib'] for r in rs]):.0f}",
                     f"{mean([r['rewritten_s'] for r in rs]):.2f}",
                     f"{mean([r['rewritten_s'] for r in rs]) / mean([r['rewritten_s'] for r in ref]):.2f}x" if ref else ""]
                    for name, rs in by.items()])


def main():
    args = parse_args()
    for path in (args.ringkv_bin, args.redis_bin, args.memtier_bin):
        if not os.access(path, os.X_OK):
            sys.exit(f"aof_bench: {path} is not executable")
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, sb.on_signal)
    sb.check_alone()
    work = tempfile.mkdtemp(prefix="ringkv-aofbench.", dir=args.tmp)
    args.reproduce = reproduce = "/usr/bin/python3 bench/aof_bench.py " + shlex.join(sys.argv[1:])
    print(f"# aof_bench  {time.strftime('%Y-%m-%d %H:%M')}  {sb.machine_notes()}")
    print(f"# reproduce: {reproduce}", flush=True)
    try:
        if "write" in args.parts:
            rows = []
            for rnd in range(args.rounds):
                for kind, shards in sb.round_order(args, rnd):
                    for fsync in (("always", "everysec") if kind == "redis" else (None, "always", "everysec")):
                        print(f"write round {rnd + 1}: {kind} {shards or ''} {fsync}", file=sys.stderr, flush=True)
                        r = sb.guarded(args, kind, shards, f"write {fsync}", write_run, args, kind, shards, work, fsync)
                        if r:
                            rows.append(r)
            report_write(args, rows)
        if "restart" in args.parts:
            rows = []
            for rnd in range(args.rounds):
                for kind, shards in sb.round_order(args, rnd):
                    print(f"restart round {rnd + 1}: {kind} {shards or ''}", file=sys.stderr, flush=True)
                    r = sb.guarded(args, kind, shards, "restart", restart_run, args, kind, shards, work)
                    if r:
                        rows.append(r)
            report_restart(args, rows)
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
