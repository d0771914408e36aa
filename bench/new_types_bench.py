#!/usr/bin/env python3
"""Side-by-side throughput of the issue 7 commands: ringkv and Debian's
redis-server 7.0 under the same redis-benchmark load, one after the other in
one run (the machines are shared and noisy: compare the ratios).

  /usr/bin/python3 bench/new_types_bench.py --ringkv-bin build/ringkv-server \
      [--shards 2] [--requests 200000] [--clients 50] [--pipeline 16] [--rounds 3]

Prints a markdown table: requests/s of each server (median of the rounds)
and ringkv / redis."""
import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import tempfile
import time

TESTS = [
    ("XADD", ["XADD", "s:{__rand_int__}", "*", "field", "value"]),
    ("XRANGE (10)", ["XRANGE", "r:{1}", "-", "+", "COUNT", "10"]),
    ("PFADD", ["PFADD", "h:{__rand_int__}", "element:__rand_int__"]),
    ("PFCOUNT", ["PFCOUNT", "h:{7}"]),
    ("GEOADD", ["GEOADD", "g:{__rand_int__}", "13.361389", "38.115556", "member:__rand_int__"]),
    ("GEOSEARCH", ["GEOSEARCH", "geo:{1}", "FROMLONLAT", "15", "37", "BYRADIUS", "200", "km", "ASC", "COUNT", "10"]),
    ("EVAL INCR", ["EVAL", "return redis.call('INCR', KEYS[1])", "1", "c:{__rand_int__}"]),
    ("FCALL", ["FCALL", "bump", "1", "f:{__rand_int__}"]),
]

LIB = "#!lua name=benchlib\nredis.register_function('bump', function(keys) return redis.call('INCR', keys[1]) end)\n"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_up(port):
    for _ in range(200):
        if subprocess.run(["redis-cli", "-p", str(port), "PING"], capture_output=True).stdout.strip() == b"PONG":
            return
        time.sleep(0.05)
    raise SystemExit("server on port %d did not start" % port)


def cli(port, *args):
    subprocess.run(["redis-cli", "-p", str(port), *args], check=True, capture_output=True)


def prepare(port):
    cli(port, "FLUSHALL")
    cli(port, "FUNCTION", "FLUSH")
    cli(port, "FUNCTION", "LOAD", LIB)
    for i in range(100):
        cli(port, "XADD", "r:{1}", "*", "f", str(i))
    for i in range(50):
        cli(port, "GEOADD", "geo:{1}", str(13 + i * 0.05), str(37 + i * 0.02), "m%d" % i)
    cli(port, "PFADD", "h:{7}", *[str(i) for i in range(500)])


def bench(port, cmd, a):
    out = subprocess.run(["redis-benchmark", "-p", str(port), "-n", str(a.requests), "-c", str(a.clients),
                          "-P", str(a.pipeline), "-r", "100000", "-q", *cmd],
                         capture_output=True, text=True).stdout
    m = re.findall(r"([0-9.]+) requests per second", out)
    return float(m[-1]) if m else 0.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ringkv-bin", required=True)
    ap.add_argument("--shards", default="2")
    ap.add_argument("--requests", type=int, default=200000)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--pipeline", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="ntbench")
    servers = {}
    try:
        rp = free_port()
        servers["redis"] = (rp, subprocess.Popen(["redis-server", "--port", str(rp), "--save", "", "--dir", work],
                                                 stdout=subprocess.DEVNULL))
        kp = free_port()
        servers["ringkv"] = (kp, subprocess.Popen([a.ringkv_bin, "--port", str(kp), "--save", "", "--dir", work,
                                                   "--shards", a.shards], stdout=subprocess.DEVNULL,
                                                  stderr=subprocess.DEVNULL))
        for port, _ in servers.values():
            wait_up(port)
            prepare(port)
        print("| command | redis-server ops/s | ringkv (%s shards) ops/s | ringkv / redis |" % a.shards)
        print("|---|---|---|---|")
        for name, cmd in TESTS:
            res = {}
            for who in ("redis", "ringkv"):
                res[who] = statistics.median(bench(servers[who][0], cmd, a) for _ in range(a.rounds))
            ratio = res["ringkv"] / res["redis"] if res["redis"] else 0
            print("| %s | %.0f | %.0f | %.2fx |" % (name, res["redis"], res["ringkv"], ratio))
    finally:
        for _, p in servers.values():
            p.terminate()
            p.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    os.environ.setdefault("LC_ALL", "C")
    main()
