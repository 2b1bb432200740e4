#!/usr/bin/env bash
# valgrind memcheck over examples/quickstart.c at small N: no invalid read/write, no use of
# uninitialised values, no leak (definite, indirect or possibly lost).
#
#   tools/valgrind.sh [N] [ORDER] [THREADS]     defaults 2000 4 1
#
# Built here with gcc -O1 -g, once without and once with -fopenmp (OpenMP's own thread pool is
# alive at exit by design: its blocks are "still reachable", which is not counted). Without
# KIFMM_USE_CBLAS, so that only kifmm's code is checked (OpenBLAS's kernels confuse memcheck).
set -eu
cd "$(dirname "$0")/.."
n=${1:-2000}; order=${2:-4}; threads=${3:-1}
command -v valgrind >/dev/null || { echo "valgrind is not installed (apt-get install valgrind)"; exit 2; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
status=0
for omp in "" "-fopenmp"; do
  cc=${CC:-gcc}
  "$cc" -std=c99 -O1 -g -Wall -Wextra $omp -I. examples/quickstart.c -o "$out/quickstart" -lm
  echo "== quickstart $n $order (${omp:-no OpenMP}, OMP_NUM_THREADS=$threads)"
  if ! OMP_NUM_THREADS=$threads valgrind --tool=memcheck --error-exitcode=99 --leak-check=full \
        --show-leak-kinds=definite,indirect,possible --errors-for-leak-kinds=definite,indirect,possible \
        --track-origins=yes --quiet "$out/quickstart" "$n" "$order"; then
    echo "valgrind: errors in the ${omp:-no OpenMP} build"
    status=1
  fi
done
[ $status -eq 0 ] && echo "valgrind: clean"
exit $status
