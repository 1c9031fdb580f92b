#!/usr/bin/env bash
# tests/fuzz/run.sh BUILD SECONDS NAME...: runs each libFuzzer harness
# BUILD/fuzz/fuzz_NAME for SECONDS seconds (what `make fuzz` calls) and
# prints one line of figures per harness; fails when any harness found
# something (a crash, a leak, a hang over FUZZ_TIMEOUT seconds, an input
# using more than FUZZ_RSS_MB of memory).
#   corpus:    tests/fuzz/corpus/NAME (seeds, read) + BUILD/fuzz/corpus/NAME
#              (what the fuzzer adds; kept between runs, not committed)
#   findings:  BUILD/fuzz/findings/NAME/crash-*, leak-*, timeout-*, oom-*
#              (replay one: BUILD/fuzz/fuzz_NAME FILE; keep it as
#              tests/fuzz/regress/NAME/ once fixed, `make test` replays it)
#   log:       BUILD/fuzz/logs/NAME.log (libFuzzer's output, final stats)
# FUZZ_JOBS=N runs N harnesses at a time (default 1); FUZZ_NICE=N runs them
# under nice -n N (default 0); FUZZ_TIMEOUT (25 s) and FUZZ_RSS_MB (2048)
# are libFuzzer's -timeout and -rss_limit_mb.
set -u
build=$1; secs=$2; shift 2
timeout_s=${FUZZ_TIMEOUT:-25}
rss=${FUZZ_RSS_MB:-2048}
jobs=${FUZZ_JOBS:-1}
nice_n=${FUZZ_NICE:-0}
mkdir -p "$build/fuzz/logs"
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
# scratch files of the harnesses (fuzz_dir) in memory when possible
[ -z "${TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ] && export TMPDIR=/dev/shm
export ASAN_OPTIONS="${ASAN_OPTIONS:-}${ASAN_OPTIONS:+:}detect_leaks=1:allocator_may_return_null=1"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-}${UBSAN_OPTIONS:+:}print_stacktrace=1:halt_on_error=1"

one() {
    name=$1
    corpus="$build/fuzz/corpus/$name"; found="$build/fuzz/findings/$name"; log="$build/fuzz/logs/$name.log"
    mkdir -p "$corpus" "$found"
    dict=""; [ -f "tests/fuzz/$name.dict" ] && dict="-dict=tests/fuzz/$name.dict"
    regress=""; [ -d "tests/fuzz/regress/$name" ] && regress="tests/fuzz/regress/$name"
    start=$(date +%s)
    nice -n "$nice_n" "$build/fuzz/fuzz_$name" -max_total_time="$secs" -timeout="$timeout_s" -rss_limit_mb="$rss" \
        -print_final_stats=1 -artifact_prefix="$found/" $dict "$corpus" "tests/fuzz/corpus/$name" $regress \
        >"$log" 2>&1
    rc=$?
    end=$(date +%s)
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    eps=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    last=$(grep -E '^#[0-9]+' "$log" | tail -1)
    cov=$(echo "$last" | sed -n 's/.* cov: \([0-9]*\).*/\1/p')
    ft=$(echo "$last" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')
    corp=$(echo "$last" | sed -n 's/.* corp: \([0-9]*\/[0-9]*[a-zA-Z]*\).*/\1/p')
    status=ok
    if [ $rc != 0 ]; then
        status="FINDING (exit $rc): $(grep -m1 -E '^==[0-9]+==ERROR|^SUMMARY|runtime error|ERROR: libFuzzer' "$log" | head -c 200); see $log"
    fi
    printf '%-12s %4ss  runs %-9s exec/s %-6s cov %-6s ft %-7s corpus %-12s %s\n' "$name" "$((end - start))" \
        "${runs:-?}" "${eps:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$status"
    [ $rc = 0 ]
}

fail=0
if [ "$jobs" -le 1 ]; then
    for n in "$@"; do one "$n" || fail=1; done
else
    tmp=$(mktemp -d)
    running=0
    for n in "$@"; do
        ( one "$n" >"$tmp/$n.out"; echo $? >"$tmp/$n.rc" ) &
        running=$((running + 1))
        if [ $running -ge "$jobs" ]; then wait -n 2>/dev/null || wait; running=$((running - 1)); fi
    done
    wait
    for n in "$@"; do cat "$tmp/$n.out"; [ "$(cat "$tmp/$n.rc")" = 0 ] || fail=1; done
    rm -rf "$tmp"
fi
if [ $fail = 0 ]; then echo "fuzz: no findings"; else echo "fuzz: FINDINGS (see above)"; exit 1; fi
