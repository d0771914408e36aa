#!/usr/bin/env bash
# bench.sh: ringkv vs Debian's redis-server, side by side on this machine.
#
# Both servers run at once on free loopback ports and are prefilled with 1M
# keys (32-byte values). Then the same workload runs against each in turn,
# alternating ringkv/redis per round so that drift on the machine hits both:
#   memtier_benchmark (when on PATH): 50 connections, 1 thread, SET:GET 1:10,
#     32-byte values, keys 1..1M, pipeline 1 and 16, BENCH_SECONDS each.
#   otherwise redis-benchmark: 50 connections, keys 1..1M, 32-byte values,
#     pipeline 1 and 16, a GET run and a SET run; the 1:10 mix is emulated by
#     giving the GET run 10x the requests of the SET run and combining the two:
#     ops/s = total requests / total time, p50/p99 = the GET run's weighted with
#     the SET run's (10:1), CPU = server CPU over both runs / total requests.
# Reported per run: ops/sec, p50 and p99 latency (ms), server CPU-seconds per
# million operations (utime+stime of the server from /proc/PID/stat), and the
# ratios ringkv/redis. On 2 cores the load generator caps ops/sec: server CPU
# per operation is the number to compare (see /work/shared/PLATFORM.md).
#
# Options (environment):
#   BENCH_SHARDS   shard counts to measure ringkv with (default "1 2")
#   BENCH_SECONDS  seconds per memtier run (default 20); with redis-benchmark
#                  the GET run has BENCH_REQUESTS requests (default 2000000)
#   BENCH_ROUNDS   alternating rounds per configuration (default 1)
#   BENCH_KEYS     prefill key count (default 1000000)
#   RINGKV_BIN     server binary (default: Release build in build/)
#   BENCH_TYPES    data-type workloads run after the string mix with redis-benchmark
#                  (default "lpush lpop sadd hset zadd lrange_100"; "" skips them),
#                  each at pipeline 16 with BENCH_TYPE_REQUESTS requests (default 1000000),
#                  against ringkv with the first of BENCH_SHARDS
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

SHARDS_LIST=${BENCH_SHARDS:-"1 2"}
SECONDS_PER_RUN=${BENCH_SECONDS:-20}
REQUESTS=${BENCH_REQUESTS:-2000000}
ROUNDS=${BENCH_ROUNDS:-1}
TYPES=${BENCH_TYPES-"lpush lpop sadd hset zadd lrange_100"}
TYPE_REQUESTS=${BENCH_TYPE_REQUESTS:-1000000}
KEYS=${BENCH_KEYS:-1000000}
CLK_TCK=$(getconf CLK_TCK)
WORK=$(mktemp -d /tmp/ringkv-bench.XXXXXX)
PIDS=()

cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

for tool in redis-server redis-cli redis-benchmark; do
  command -v "$tool" >/dev/null || { echo "bench.sh: $tool missing (run scripts/setup.sh)" >&2; exit 1; }
done

if [ -z "${RINGKV_BIN:-}" ]; then
  cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build build -j"${BUILD_JOBS:-2}" --target ringkv-server >/dev/null
  RINGKV_BIN=$ROOT/build/ringkv-server
fi

if command -v memtier_benchmark >/dev/null; then TOOL=memtier; else TOOL=redis-benchmark; fi

free_port() {
  /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_ping() {   # port
  local i
  for i in $(seq 1 200); do
    [ "$(redis-cli -p "$1" PING 2>/dev/null)" = PONG ] && return 0
    sleep 0.05
  done
  echo "bench.sh: server on port $1 did not start" >&2; return 1
}

# Server CPU time (utime+stime) in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

start_ringkv() {   # shards -> sets RK_PORT RK_PID
  RK_PORT=$(free_port)
  mkdir -p "$WORK/ringkv-$1"
  "$RINGKV_BIN" --port "$RK_PORT" --bind 127.0.0.1 --dir "$WORK/ringkv-$1" --shards "$1" \
    >"$WORK/ringkv-$1.log" 2>&1 &
  RK_PID=$!; PIDS+=("$RK_PID")
  wait_ping "$RK_PORT"
}

start_redis() {   # -> sets RD_PORT RD_PID
  RD_PORT=$(free_port)
  mkdir -p "$WORK/redis"
  redis-server --port "$RD_PORT" --bind 127.0.0.1 --save '' --appendonly no \
    --dir "$WORK/redis" --logfile "$WORK/redis.log" &
  RD_PID=$!; PIDS+=("$RD_PID")
  wait_ping "$RD_PORT"
}

stop_server() {   # pid
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

prefill() {   # port
  # Exactly the keys the load generator asks for, so every GET hits:
  # redis-benchmark -r N uses key:%012d for 0..N-1, memtier key:<1..N>.
  /usr/bin/python3 - "$KEYS" "$TOOL" <<'PYEOF' | redis-cli -p "$1" --pipe >/dev/null
import sys
n, tool = int(sys.argv[1]), sys.argv[2]
out = sys.stdout.buffer
value = b"v" * 32
fmt = "key:%d" if tool == "memtier" else "key:%012d"
first = 1 if tool == "memtier" else 0
batch = []
for i in range(first, first + n):
    key = (fmt % i).encode()
    batch.append(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$32\r\n%s\r\n" % (len(key), key, value))
    if len(batch) == 10000:
        out.write(b"".join(batch)); batch = []
out.write(b"".join(batch))
PYEOF
  echo "  prefilled port $1: $(redis-cli -p "$1" DBSIZE) keys"
}

# Each run prints one line: "ops p50 p99 ops_total" (latencies in ms).
run_memtier() {   # port pipeline
  local out="$WORK/memtier.json"
  memtier_benchmark -s 127.0.0.1 -p "$1" --protocol=redis -c 50 -t 1 --ratio=1:10 -d 32 \
    --key-pattern=R:R --key-minimum=1 --key-maximum="$KEYS" --key-prefix="key:" \
    --pipeline="$2" --test-time="$SECONDS_PER_RUN" --hide-histogram \
    --json-out-file="$out" >/dev/null 2>&1
  /usr/bin/python3 - "$out" <<'PYEOF'
import json, sys
d = json.load(open(sys.argv[1]))
tot = d["ALL STATS"]["Totals"]
ops = tot["Ops/sec"]
pct = tot.get("Percentile Latencies", {})
p50 = pct.get("p50.00", tot.get("Latency", 0))
p99 = pct.get("p99.00", 0)
count = tot.get("Count") or ops * d.get("configuration", {}).get("test_time", 0)
print(ops, p50, p99, int(count))
PYEOF
}

# redis-benchmark --csv gives: "test","rps","avg","min","p50","p95","p99","max"
rb_run() {   # port pipeline test requests -> "rps p50 p99 elapsed_s"
  local start end line
  start=$(date +%s.%N)
  line=$(redis-benchmark -p "$1" -c 50 -n "$4" -r "$KEYS" -d 32 -P "$2" -t "$3" --csv 2>/dev/null | tail -n1)
  end=$(date +%s.%N)
  /usr/bin/python3 -c '
import csv, sys
row = next(csv.reader([sys.argv[1]]))
print(row[1], row[4], row[6], float(sys.argv[3]) - float(sys.argv[2]))' "$line" "$start" "$end"
}

run_redis_benchmark() {   # port pipeline
  local get set
  get=$(rb_run "$1" "$2" get "$REQUESTS")
  set=$(rb_run "$1" "$2" set $((REQUESTS / 10)))
  /usr/bin/python3 -c '
import sys
g = [float(x) for x in sys.argv[1].split()]; s = [float(x) for x in sys.argv[2].split()]
n_get, n_set = float(sys.argv[3]), float(sys.argv[3]) / 10
ops = (n_get + n_set) / (n_get / g[0] + n_set / s[0])
p50 = (10 * g[1] + s[1]) / 11
p99 = (10 * g[2] + s[2]) / 11
print(ops, p50, p99, int(n_get + n_set))' "$get" "$set" "$REQUESTS"
}

# measure NAME PID PORT PIPELINE -> prints a result row, stores "ops p50 p99 cpu" in LAST
measure() {
  local name=$1 pid=$2 port=$3 pipeline=$4 before after result
  before=$(cpu_ticks "$pid")
  if [ "$TOOL" = memtier ]; then result=$(run_memtier "$port" "$pipeline")
  else result=$(run_redis_benchmark "$port" "$pipeline"); fi
  after=$(cpu_ticks "$pid")
  LAST=$(/usr/bin/python3 -c '
import sys
ops, p50, p99, total = (float(x) for x in sys.argv[1].split())
cpu_s = (int(sys.argv[3]) - int(sys.argv[2])) / float(sys.argv[4])
print("%.0f %.3f %.3f %.3f" % (ops, p50, p99, cpu_s / total * 1e6 if total else 0))' \
    "$result" "$before" "$after" "$CLK_TCK")
  read -r ops p50 p99 cpu <<<"$LAST"
  printf '%-16s P=%-3s %12s ops/s  p50 %7s ms  p99 %7s ms  %8s CPU-s/Mops\n' \
    "$name" "$pipeline" "$ops" "$p50" "$p99" "$cpu"
}

ratio_line() {   # ringkv-values redis-values
  /usr/bin/python3 -c '
import sys
a = [float(x) for x in sys.argv[1].split()]; b = [float(x) for x in sys.argv[2].split()]
r = lambda x, y: "%.2f" % (x / y) if y else "n/a"
print("%-16s       %12s ops/s  p50 %7s     p99 %7s     %8s CPU/op   (ringkv/redis)"
      % ("ratio", r(a[0], b[0]), r(a[1], b[1]), r(a[2], b[2]), r(a[3], b[3])))' "$1" "$2"
}

echo "load generator: $TOOL; server binary: $RINGKV_BIN; $(nproc) CPUs"
[ "$TOOL" = redis-benchmark ] && echo "(1:10 SET:GET emulated: GET run of $REQUESTS requests + SET run of $((REQUESTS / 10)), combined)"
start_redis
prefill "$RD_PORT"
for shards in $SHARDS_LIST; do
  echo
  echo "== ringkv --shards $shards vs redis-server 7 (--save '' --appendonly no)"
  start_ringkv "$shards"
  prefill "$RK_PORT"
  for pipeline in 1 16; do
    for round in $(seq 1 "$ROUNDS"); do
      measure "ringkv(s=$shards)" "$RK_PID" "$RK_PORT" "$pipeline"; rk=$LAST
      measure "redis-server" "$RD_PID" "$RD_PORT" "$pipeline"; rd=$LAST
      ratio_line "$rk" "$rd"
    done
  done
  stop_server "$RK_PID"
done

# Data-type workloads: the same redis-benchmark test against each server in
# turn; compared by ops/s and by server CPU per operation.
measure_type() {   # NAME PID PORT TEST -> row; LAST="ops cpu_us_per_op"
  local before after line
  before=$(cpu_ticks "$2")
  line=$(rb_run "$3" 16 "$4" "$TYPE_REQUESTS")
  after=$(cpu_ticks "$2")
  LAST=$(/usr/bin/python3 -c '
import sys
ops = float(sys.argv[1].split()[0])
cpu_s = (int(sys.argv[3]) - int(sys.argv[2])) / float(sys.argv[4])
print("%.0f %.3f" % (ops, cpu_s / float(sys.argv[5]) * 1e6))' "$line" "$before" "$after" "$CLK_TCK" "$TYPE_REQUESTS")
  read -r ops cpu <<<"$LAST"
  printf '%-16s %-11s %12s ops/s  %8s CPU-s/Mops\n' "$1" "$4" "$ops" "$cpu"
}

if [ -n "$TYPES" ]; then
  shards=${SHARDS_LIST%% *}
  echo
  echo "== data types, redis-benchmark -P 16 -n $TYPE_REQUESTS: ringkv --shards $shards vs redis-server 7"
  start_ringkv "$shards"
  for test in $TYPES; do
    measure_type "ringkv(s=$shards)" "$RK_PID" "$RK_PORT" "$test"; rk=$LAST
    measure_type "redis-server" "$RD_PID" "$RD_PORT" "$test"; rd=$LAST
    /usr/bin/python3 -c '
import sys
a = [float(x) for x in sys.argv[1].split()]; b = [float(x) for x in sys.argv[2].split()]
print("%-16s %-11s %12.2f ops/s  %8.2f CPU/op (ringkv/redis)" % ("ratio", sys.argv[3], a[0] / b[0], a[1] / b[1] if b[1] else 0))' "$rk" "$rd" "$test"
  done
  stop_server "$RK_PID"
fi
stop_server "$RD_PID"
