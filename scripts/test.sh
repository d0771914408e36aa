#!/usr/bin/env bash
# test.sh: the whole test suite, as CI runs it (.ci/run).
#
# Stages: setup, RelWithDebInfo build (build/; the sanitizer and fuzz
# builds then start in the background at the lowest priority), unit tests (ctest),
# integration tests (pytest) with the default I/O backend and again with
# --io-backend epoll (without the tests marked `once`, see
# tests/integration/pytest.ini), ASan+UBSan build (build-asan/) with its unit
# tests and the smoke integration tests, libFuzzer harnesses for the RESP
# parser, the RDB loader, RESTORE payloads and the AOF manifest and command
# reader, 28 s in all (build-fuzz/).
# Every stage is bounded by `timeout` and by an overall deadline; a stage
# that cannot run (missing tool, failed build) counts as failed.
# Last line: "N passed, M failed" summed over all stages; exit 1 if M > 0.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

JOBS=${BUILD_JOBS:-2}
B=${BUILD_DIR:-build}              # overridable so a second checkout's run
BA=${ASAN_BUILD_DIR:-build-asan}   # does not touch someone else's build dirs
BF=${FUZZ_BUILD_DIR:-build-fuzz}
TOTAL_BUDGET_S=${TEST_BUDGET_S:-885}     # stay under CI's 15 minutes
BUILD_LIMIT_S=420                  # per configure or build step
PY=/usr/bin/python3
PYTEST=("$PY" -m pytest -p no:cacheprovider -q)
START_S=$(date +%s)
LOGDIR=$(mktemp -d /tmp/ringkv-test.XXXXXX)
trap 'rm -rf "$LOGDIR"' EXIT

PASSED=0
FAILED=0
FAILED_STAGES=()

note() { printf '\n=== %s\n' "$*"; }
fail_stage() {            # name, count, reason
  FAILED=$((FAILED + $2)); FAILED_STAGES+=("$1"); echo "FAILED stage $1: $3"
}

# Seconds a stage may take: its own limit, capped by what is left overall.
budget() {
  local want=$1 left
  left=$(( TOTAL_BUDGET_S - ($(date +%s) - START_S) ))
  [ "$left" -lt "$want" ] && want=$left
  echo "$want"
}

# run_bounded LIMIT CMD...: runs CMD under timeout; 124 when it ran out of time.
run_bounded() {
  local limit
  limit=$(budget "$1"); shift
  if [ "$limit" -lt 5 ]; then echo "out of time budget"; return 124; fi
  timeout --kill-after=10 "$limit" "$@"
}

# build DIR TARGET... -- CMAKE_ARGS...: configure + build, log shown on failure.
build() {
  local dir=$1; shift
  local targets=() args=()
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do targets+=(--target "$1"); shift; done
  [ $# -gt 0 ] && shift
  args=("$@")
  local log="$LOGDIR/build-$(basename "$dir").log"
  if run_bounded "$BUILD_LIMIT_S" cmake -S . -B "$dir" "${args[@]}" >"$log" 2>&1 &&
     run_bounded "$BUILD_LIMIT_S" cmake --build "$dir" -j"$JOBS" "${targets[@]}" >>"$log" 2>&1; then
    echo "built $dir"
    return 0
  fi
  tail -n 60 "$log"
  return 1
}

# ctest_stage NAME DIR: adds ctest's per-test counts.
ctest_stage() {
  local name=$1 dir=$2 out="$LOGDIR/ctest-$1.log" rc
  note "$name"
  run_bounded 300 ctest --test-dir "$dir" -j"$JOBS" --timeout 120 --output-on-failure >"$out" 2>&1
  rc=$?
  # Show failures and the summary, not a line per passing test.
  grep -vE '^ *[0-9]+/[0-9]+ Test +#[0-9]+: .* Passed' "$out" | tail -n 200
  local summary total failed
  summary=$(grep -E 'tests passed, [0-9]+ tests? failed out of [0-9]+' "$out" | tail -n1)
  if [ -z "$summary" ]; then
    fail_stage "$name" 1 "no ctest summary (rc $rc: no tests found, build missing or timeout)"
    return
  fi
  failed=$(sed -E 's/.*tests passed, ([0-9]+) tests? failed out of ([0-9]+).*/\1/' <<<"$summary")
  total=$(sed -E 's/.*failed out of ([0-9]+).*/\1/' <<<"$summary")
  PASSED=$((PASSED + total - failed))
  if [ "$failed" -gt 0 ] || [ "$rc" -ne 0 ]; then
    fail_stage "$name" $(( failed > 0 ? failed : 1 )) "ctest rc $rc"
  fi
}

# junit_counts FILE: prints "passed failed" (a test case with a failure or an
# error, teardown errors included, is failed; skipped cases count nowhere).
junit_counts() {
  "$PY" - "$1" <<'PYEOF'
import sys, xml.etree.ElementTree as ET
try:
    root = ET.parse(sys.argv[1]).getroot()
except Exception:
    print("0 0 missing"); sys.exit(0)
passed = failed = 0
for case in root.iter("testcase"):
    tags = {child.tag for child in case}
    if tags & {"failure", "error"}:
        failed += 1
    elif "skipped" not in tags:
        passed += 1
for suite in root.iter("testsuite"):   # collection errors have no testcase
    if not list(suite.iter("testcase")) and int(suite.get("errors", 0)):
        failed += int(suite.get("errors", 0))
print(passed, failed, "ok")
PYEOF
}

# pytest_stage NAME LIMIT [env assignments...] -- PYTEST_ARGS...
pytest_stage() {
  local name=$1 limit=$2; shift 2
  local envs=()
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do envs+=("$1"); shift; done
  [ $# -gt 0 ] && shift
  local xml="$LOGDIR/junit-$name.xml" rc
  note "$name"
  run_bounded "$limit" env "${envs[@]}" "${PYTEST[@]}" --junitxml="$xml" "$@"
  rc=$?
  local p f status
  read -r p f status < <(junit_counts "$xml")
  PASSED=$((PASSED + p))
  if [ "$status" != ok ]; then
    fail_stage "$name" 1 "pytest produced no report (rc $rc$([ $rc -eq 124 ] && echo ', timed out'))"
  elif [ $((p + f)) -eq 0 ]; then
    fail_stage "$name" 1 "no tests ran (rc $rc)"
  elif [ "$f" -gt 0 ] || { [ "$rc" -ne 0 ] && [ "$rc" -ne 5 ]; }; then
    fail_stage "$name" $(( f > 0 ? f : 1 )) "pytest rc $rc"
  fi
}

# pytest_pair_stage NAME LIMIT [env assignments...] -- FILES...: one stage run
# as two pytest processes at once, FILES beside the rest of
# tests/integration (the replication tests mostly wait on links and timers,
# so the two share the 2 cores well); each has its own basetemp and report.
pytest_pair_stage() {
  local name=$1 limit=$2; shift 2
  local envs=() files=() ignores=()
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do envs+=("$1"); shift; done
  [ $# -gt 0 ] && shift
  files=("$@")
  for f in "${files[@]}"; do ignores+=(--ignore="$f"); done
  note "$name (two pytest processes)"
  run_bounded "$limit" env "${envs[@]}" "${PYTEST[@]}" --basetemp="$LOGDIR/pt-$name-a" \
    --junitxml="$LOGDIR/junit-$name-a.xml" "${files[@]}" >"$LOGDIR/$name-a.log" 2>&1 &
  local pid_a=$!
  run_bounded "$limit" env "${envs[@]}" "${PYTEST[@]}" --basetemp="$LOGDIR/pt-$name-b" \
    --junitxml="$LOGDIR/junit-$name-b.xml" "${ignores[@]}" tests/integration
  local rc_b=$? rc_a
  wait "$pid_a"; rc_a=$?
  cat "$LOGDIR/$name-a.log"
  local part p f status
  for part in a b; do
    read -r p f status < <(junit_counts "$LOGDIR/junit-$name-$part.xml")
    PASSED=$((PASSED + p))
    local rc=$rc_a; [ $part = b ] && rc=$rc_b
    if [ "$status" != ok ]; then
      fail_stage "$name-$part" 1 "pytest produced no report (rc $rc$([ $rc -eq 124 ] && echo ', timed out'))"
    elif [ $((p + f)) -eq 0 ]; then
      fail_stage "$name-$part" 1 "no tests ran (rc $rc)"
    elif [ "$f" -gt 0 ] || { [ "$rc" -ne 0 ] && [ "$rc" -ne 5 ]; }; then
      fail_stage "$name-$part" $(( f > 0 ? f : 1 )) "pytest rc $rc"
    fi
  done
}

# --- setup -----------------------------------------------------------------
note "setup"
if ! run_bounded 600 ./scripts/setup.sh; then
  fail_stage setup 1 "scripts/setup.sh failed"
fi

# --- main build, then the other builds in the background ------------------
# Line tables only (-g1): enough for the crash reports' stack traces, and
# much less to compile; the sanitizer and fuzz builds at -O1, as ASan advises.
LIGHT_DEBUG=(-DCMAKE_C_FLAGS_RELWITHDEBINFO="-O2 -g1" -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g1")
LIGHT_SAN=(-DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -g1" -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1")
note "build (RelWithDebInfo, $B/)"
MAIN_BUILT=0
build "$B" ringkv-server ringkv-unit ringkv-check-rdb ringkv-check-aof rk-no-uring -- \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo "${LIGHT_DEBUG[@]}" && MAIN_BUILT=1

# The sanitizer and fuzz builds run at the lowest CPU priority while the
# main build's tests run: those mostly wait on sockets and timers, and the
# builds take the idle CPU (about 5 minutes of it) without slowing them.
# Each writes its log and exit status; the stages below wait for them.
SAN_ENV=(ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1)
FUZZ_NAMES=(resp_fuzz rdb_load_fuzz restore_fuzz aof_fuzz)
HAVE_CLANG=0
command -v clang >/dev/null 2>&1 && command -v clang++ >/dev/null 2>&1 && HAVE_CLANG=1
(
  renice -n 19 -p "$BASHPID" >/dev/null   # inherited by the compilers
  BUILD_LIMIT_S=800                        # starved while the tests run
  # Only what the sanitizer stage runs (no micro-benchmarks under the sanitizers).
  build "$BA" ringkv-server ringkv-unit ringkv-check-rdb ringkv-check-aof rk-no-uring -- \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo "${LIGHT_SAN[@]}" -DRK_SANITIZE=ON >"$LOGDIR/bg-asan.out" 2>&1
  echo $? >"$LOGDIR/bg-asan.rc"
  if [ "$HAVE_CLANG" -eq 1 ]; then
    build "$BF" "${FUZZ_NAMES[@]}" -- -DCMAKE_BUILD_TYPE=RelWithDebInfo "${LIGHT_SAN[@]}" -DRK_FUZZ=ON \
      -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ >"$LOGDIR/bg-fuzz.out" 2>&1
    echo $? >"$LOGDIR/bg-fuzz.rc"
  fi
) &
BG_BUILDS=$!

if [ "$MAIN_BUILT" -eq 1 ]; then
  ctest_stage unit "$B"
  pytest_pair_stage integration 420 RINGKV_BIN="$ROOT/$B/ringkv-server" -- \
    tests/integration/test_repl_*.py tests/integration/test_config_repl.py
  pytest_stage integration-epoll 240 RINGKV_BIN="$ROOT/$B/ringkv-server" \
    RINGKV_EXTRA_ARGS="--io-backend epoll" -- -m "not once" tests/integration
else
  fail_stage build 1 "RelWithDebInfo build failed (unit and integration stages not run)"
  fail_stage unit 1 "not run"; fail_stage integration 1 "not run"; fail_stage integration-epoll 1 "not run"
fi

# --- sanitizers ---------------------------------------------------------------
note "build (ASan+UBSan, $BA/)"
while [ ! -e "$LOGDIR/bg-asan.rc" ] && kill -0 "$BG_BUILDS" 2>/dev/null; do sleep 1; done
cat "$LOGDIR/bg-asan.out"
if [ "$(cat "$LOGDIR/bg-asan.rc" 2>/dev/null)" = 0 ]; then
  export "${SAN_ENV[@]}"
  ctest_stage unit-asan "$BA"
  pytest_stage integration-asan-smoke 240 RINGKV_BIN="$ROOT/$BA/ringkv-server" \
    -- -m smoke tests/integration
  unset ASAN_OPTIONS UBSAN_OPTIONS
else
  fail_stage build-asan 1 "sanitizer build failed"
  fail_stage unit-asan 1 "not run"; fail_stage integration-asan-smoke 1 "not run"
fi

# --- fuzzing ------------------------------------------------------------------
# Four libFuzzer harnesses, each its own stage, 28 s in all: the RESP parser
# (7 s), the RDB file loader (8 s), RESTORE payload decoding (6 s), the AOF
# manifest and command reader (7 s). Each keeps its corpus in
# $BF/corpus-NAME and starts from its committed seeds.
FUZZ_RUNS=("resp_fuzz 7 tests/fuzz/corpus" "rdb_load_fuzz 8 tests/fuzz/corpus_rdb"
           "restore_fuzz 6 tests/fuzz/corpus_restore" "aof_fuzz 7 tests/fuzz/corpus_aof")

# fuzz_stage NAME SECONDS SEEDS: one harness run, counted as one stage.
fuzz_stage() {
  local name=$1 secs=$2 seeds_dir=$3 corpus=$BF/corpus-$1 log="$LOGDIR/fuzz-$1.log"
  note "fuzz $name ($secs s)"
  local seeds=()
  [ -d "$seeds_dir" ] && seeds+=("$seeds_dir")
  mkdir -p "$corpus"
  if run_bounded $((secs + 60)) env ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
       "$BF/$name" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
       -print_final_stats=1 -artifact_prefix="$BF/$name-" "$corpus" "${seeds[@]}" \
       >"$log" 2>&1; then
    tail -n 6 "$log"
    PASSED=$((PASSED + 1))
  else
    tail -n 80 "$log"
    fail_stage "fuzz-$name" 1 "$name found a problem (artifacts: $BF/$name-*)"
  fi
}

if [ "$HAVE_CLANG" -eq 0 ]; then
  for run in "${FUZZ_RUNS[@]}"; do
    fail_stage "fuzz-${run%% *}" 1 "clang/clang++ not installed (apt-get install clang)"
  done
else
  note "fuzz build ($BF)"
  wait "$BG_BUILDS"
  cat "$LOGDIR/bg-fuzz.out" 2>/dev/null
  fuzz_built=$(cat "$LOGDIR/bg-fuzz.rc" 2>/dev/null)
  for run in "${FUZZ_RUNS[@]}"; do
    read -r name secs seeds_dir <<<"$run"
    if [ "$fuzz_built" = 0 ]; then
      fuzz_stage "$name" "$secs" "$seeds_dir"
    else
      fail_stage "fuzz-$name" 1 "$name did not build"
    fi
  done
fi

note "done in $(( $(date +%s) - START_S ))s${FAILED_STAGES[*]:+; failed stages: ${FAILED_STAGES[*]}}"
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
