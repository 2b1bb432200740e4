# bench/common.sh - sourced by the bench scripts: builds the driver and peak with a plain cc line
# (-O3 -march=native -fopenmp, OpenBLAS through CBLAS when pkg-config finds it, else the library's
# built-in GEMM) into bench/build/, and defines small helpers. Not executable on its own.

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
BUILD="$BENCH_DIR/build"
RESULTS="$BENCH_DIR/results"
mkdir -p "$BUILD" "$RESULTS"

bench_build() {
  local cc=${CC:-cc} blas_cflags=() blas_libs=()
  # BENCH_CBLAS=0: the library's built-in GEMM even where OpenBLAS is installed
  if [ "${BENCH_CBLAS:-1}" != 0 ] && pkg-config --exists openblas 2>/dev/null; then
    read -r -a blas_cflags <<<"-DKIFMM_USE_CBLAS $(pkg-config --cflags openblas)"
    read -r -a blas_libs <<<"$(pkg-config --libs openblas)"
    BENCH_BLAS="OpenBLAS (cblas_dgemm)"
  else
    BENCH_BLAS="built-in GEMM (BENCH_CBLAS=0, or no OpenBLAS found by pkg-config)"
  fi
  local prog flags=(-std=c99 -O3 -march=native -fopenmp -Wall -Wextra)
  # EXTRA_CFLAGS, e.g. -mno-avx512f: the AVX2 path on an AVX-512 machine
  if [ -n "${EXTRA_CFLAGS:-}" ]; then read -r -a extra <<<"$EXTRA_CFLAGS"; flags+=("${extra[@]}"); fi
  # the reference SIMD P2P kernel of peak.h: its own object, with -fno-math-errno (see p2p_ref.c)
  "$cc" "${flags[@]}" -fno-math-errno -c "$BENCH_DIR/p2p_ref.c" -o "$BUILD/p2p_ref.o"
  for prog in kifmm_bench peak; do
    "$cc" "${flags[@]}" -D_POSIX_C_SOURCE=200809L -I"$ROOT" "${blas_cflags[@]}" "$BENCH_DIR/$prog.c" \
      "$BUILD/p2p_ref.o" -o "$BUILD/$prog" "${blas_libs[@]}" -lm
  done
  BENCH_SOURCE=$(source_line)   # the headers these binaries were built from
  echo "built $BUILD/kifmm_bench and $BUILD/peak with $($cc --version | head -n1) ${EXTRA_CFLAGS:-}, BLAS: $BENCH_BLAS"
  echo "from $BENCH_SOURCE"
}

# OpenBLAS's own threads. kifmm calls the GEMMs of its M2L from inside its OpenMP parallel region,
# one GEMM per thread; the pthreads build of OpenBLAS, allowed 2 threads, then serialises those
# concurrent calls on its one thread pool (measured: two threads' concurrent (143 x 143)(143 x 256)
# GEMMs drop from 88 GFLOP/s with OPENBLAS_NUM_THREADS=1 to 8 GFLOP/s with 2). Default 1;
# BENCH_OPENBLAS_THREADS=<n> to measure otherwise.
BENCH_OPENBLAS_THREADS=${BENCH_OPENBLAS_THREADS:-1}

# one configuration per process (peak RSS is a per-process high-water mark); OMP_NUM_THREADS in
# the environment too, so that kifmm_direct and the peaks agree with config.threads
run_bench() {   # threads, driver args...
  local t=$1; shift
  OMP_NUM_THREADS=$t OPENBLAS_NUM_THREADS=$BENCH_OPENBLAS_THREADS "$BUILD/kifmm_bench" --threads "$t" "$@"
}

run_peak() {    # threads, peak args...
  local t=$1; shift
  OMP_NUM_THREADS=$t OPENBLAS_NUM_THREADS=$BENCH_OPENBLAS_THREADS "$BUILD/peak" --threads "$t" "$@"
}

machine_line() {
  local cpu mem
  cpu=$(lscpu 2>/dev/null | sed -n 's/^Model name:[[:space:]]*//p' | head -n1)
  mem=$(free -g 2>/dev/null | awk '/^Mem:/ {print $2 " GiB"}')
  echo "$(nproc) cores ${cpu:-unknown CPU}, ${mem:-? GiB}, $(uname -sr), OPENBLAS_NUM_THREADS=$BENCH_OPENBLAS_THREADS"
}

# which library source the numbers belong to (the headers change while others work on them)
source_line() {
  local rev sums
  rev=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo "no git")
  git -C "$ROOT" diff --quiet -- kifmm.h kifmm_ops.h kifmm_tree.h 2>/dev/null || rev="$rev + uncommitted header changes"
  sums=$(cd "$ROOT" && sha1sum kifmm.h kifmm_ops.h kifmm_tree.h | awk '{printf "%s%s:%s", (NR > 1 ? " " : ""), $2, substr($1, 1, 10)}')
  echo "kifmm $rev; header sha1 $sums"
}
