#!/usr/bin/env bash
# Fuzz kifmm's tree build and evaluation with libFuzzer (clang -fsanitize=fuzzer,address,undefined).
#
#   tools/fuzz.sh [SECONDS] [BUILD_DIR]     fuzz for SECONDS (default 600); new inputs go to
#                                           BUILD_DIR/corpus, crashes to BUILD_DIR/artifacts
#   tools/fuzz.sh --replay [BUILD_DIR]      run the seed corpus tests/fuzz/corpus once (CI smoke run)
#
# FUZZ_ARGS adds libFuzzer options, e.g. FUZZ_ARGS="-fork=1 -ignore_crashes=1" keeps going after
# a finding (each one still lands in BUILD_DIR/artifacts).
#
# The harness is tests/fuzz_tree.c. A crash leaves BUILD_DIR/artifacts/crash-*; reproduce it with
#   BUILD_DIR/fuzz_tree BUILD_DIR/artifacts/crash-...
# and add the minimised input to tests/fuzz/corpus once fixed, so the CI smoke run keeps it fixed.
set -eu
cd "$(dirname "$0")/.."

mode=fuzz
if [ "${1:-}" = "--replay" ]; then mode=replay; shift; seconds=0; else seconds=${1:-600}; [ $# -gt 0 ] && shift; fi
out=${1:-build-fuzz}
CC=${CC_FUZZ:-clang}
mkdir -p "$out/corpus" "$out/artifacts"

# one thread inside kifmm (the harness sets config.threads = 1; the OpenMP runtime still spins)
export OMP_NUM_THREADS=1
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}

bin="$out/fuzz_tree"
if [ ! -x "$bin" ] || [ tests/fuzz_tree.c -nt "$bin" ] || [ kifmm.h -nt "$bin" ] ||
   [ kifmm_tree.h -nt "$bin" ] || [ kifmm_ops.h -nt "$bin" ] || [ tests/testutil.h -nt "$bin" ]; then
  # no OpenMP: libFuzzer and a spinning OpenMP pool do not mix well, and kifmm builds without it
  "$CC" -std=c99 -g -O2 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -I. -Itests \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer \
    tests/fuzz_tree.c -o "$bin" -lm
fi

if [ "$mode" = replay ]; then
  exec "$bin" -runs=0 -artifact_prefix="$out/artifacts/" tests/fuzz/corpus
fi
# -max_len: header + 2 x 96 points x 3 coordinates x (2 + 8) bytes + charges is < 6000
exec "$bin" -max_total_time="$seconds" -max_len=6000 -timeout=20 -rss_limit_mb=2048 \
  -artifact_prefix="$out/artifacts/" -print_final_stats=1 ${FUZZ_ARGS:-} "$out/corpus" tests/fuzz/corpus
