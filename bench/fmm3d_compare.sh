#!/usr/bin/env bash
# bench/fmm3d_compare.sh - kifmm against FMM3D in the same run (issue: tolerance-driven settings).
# FMM3D_SRC=<FMM3D source tree> (github:flatironinstitute/FMM3D, built outside this repository; see
# the anchors README of the project): builds its library with `make lib FAST_KER=ON` when
# lib-static/libfmm3d.a is missing, links bench/fmm3d_vs.c against it and kifmm, and prints, per eps,
# FMM3D's total and errors beside kifmm's with only config.tolerance set, from the errors FMM3D
# reached (min of its potential error and a third of its gradient error; same points, same direct
# sum, the two alternating). Writes bench/results/$OUT.md.
# Environment: FMM3D_SRC (required), N (1e6), REPS (3), EPS ("1e-3 1e-6 1e-9 1e-12"), THREADS (2),
# EXTRA_CFLAGS (e.g. -mno-avx512f for kifmm's AVX2 path; build FMM3D alike with its make.inc), OUT
# (the result file's name, default fmm3d).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
: "${FMM3D_SRC:?set FMM3D_SRC to an FMM3D source tree (see the anchors README)}"
N=${N:-1e6}; REPS=${REPS:-3}; EPS=${EPS:-"1e-3 1e-6 1e-9 1e-12"}; THREADS=${THREADS:-2}
lib="$FMM3D_SRC/lib-static/libfmm3d.a"
if [ ! -f "$lib" ]; then
  echo "building FMM3D in $FMM3D_SRC (make lib FAST_KER=ON, a few minutes)"
  make -C "$FMM3D_SRC" -j"$(nproc)" lib FAST_KER=ON >"$BUILD/fmm3d_build.log" 2>&1 ||
    { echo "FMM3D build failed, see $BUILD/fmm3d_build.log"; exit 1; }
fi
# shellcheck disable=SC2086
cc -std=c99 -O3 -march=native ${EXTRA_CFLAGS:-} -fopenmp -Wall -Wextra -D_POSIX_C_SOURCE=200809L -I"$ROOT" \
  "$BENCH_DIR/fmm3d_vs.c" "$lib" -o "$BUILD/fmm3d_vs" -lgfortran -lstdc++ -lm -ldl
fmm3d_rev=$(git -C "$FMM3D_SRC" rev-parse --short HEAD 2>/dev/null || echo "unknown revision")
# shellcheck disable=SC2086
{ echo "# kifmm vs FMM3D, same run"; echo
  echo "Machine: $(machine_line). kifmm: $(source_line), built-in GEMM, cc -O3 -march=native ${EXTRA_CFLAGS:-}."
  echo "FMM3D: $FMM3D_SRC at $fmm3d_rev (lib-static/libfmm3d.a). Load before: $(cut -d' ' -f1-3 /proc/loadavg)."; echo
  OMP_NUM_THREADS=$THREADS OPENBLAS_NUM_THREADS=1 "$BUILD/fmm3d_vs" "$N" "$REPS" 1000 $EPS; } | tee "$RESULTS/${OUT:-fmm3d}.md"
