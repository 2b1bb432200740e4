#!/usr/bin/env bash
# bench/mpi_scaling.sh - kifmm over MPI on 1..4 ranks: strong scaling (N points in all) and weak
# scaling (N points per rank), one OpenMP thread per rank, and the LET's communication volume.
# On a 2-core machine ranks 3 and 4 share cores (--oversubscribe): their times say nothing about
# speed, their byte counts are exact. Writes bench/results/mpi_scaling.md and .log.
# Environment: NP_LIST ("1 2 3 4"), STRONG_N (1e6), WEAK_N (2.5e5), ORDER (6), DISTS ("cube sphere"), REPS (3).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
NP_LIST=${NP_LIST:-"1 2 3 4"}
STRONG_N=${STRONG_N:-1e6}
WEAK_N=${WEAK_N:-2.5e5}
ORDER=${ORDER:-6}
DISTS=${DISTS:-"cube sphere"}
REPS=${REPS:-3}
machine=$(machine_line)   # (before OMP_NUM_THREADS=1: nproc obeys it)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
mpicc -std=c99 -O3 -march=native -fopenmp -Wall -Wextra -I"$ROOT" "$BENCH_DIR/mpi_bench.c" -o "$BUILD/mpi_bench" -lm
log="$RESULTS/mpi_scaling.log" md="$RESULTS/mpi_scaling.md"
{
  echo "# bench/mpi_scaling.sh, $(date -Iseconds)"
  echo "# machine: $machine; $(mpirun --version | head -n1); one OpenMP thread per rank"
  echo "# source: $(source_line)"
} >"$log"
for dist in $DISTS; do
  for np in $NP_LIST; do
    mpirun --oversubscribe -np "$np" "$BUILD/mpi_bench" strong "$STRONG_N" "$ORDER" "$dist" "$REPS" | tee -a "$log"
  done
  for np in $NP_LIST; do
    mpirun --oversubscribe -np "$np" "$BUILD/mpi_bench" weak "$WEAK_N" "$ORDER" "$dist" "$REPS" | tee -a "$log"
  done
done
python3 - "$log" "$md" <<'PY'
import re, sys
rows = []
for line in open(sys.argv[1]):
    m = re.match(r"(strong|weak) P (\d+) N (\d+) order (\d+) (\w+): create ([\d.]+) s, evaluate ([\d.]+) s .*?"
                 r"at most: (\d+) own, (\d+) ghost sources, (\d+) LET boxes, LET ([\d.]+) MB, evaluate ([\d.]+) MB, "
                 r"create ([\d.]+) MB sent; LET bytes per 1e6 own points ([\d.]+) MB.*"
                 r"tree (\d+) B, evaluation buffers (\d+) B, all (\d+) B", line)
    if m: rows.append(m.groups())
with open(sys.argv[2], "w") as f:
    hdr = [l.rstrip("\n") for l in open(sys.argv[1]) if l.startswith("#")]
    f.write("\n".join(hdr) + "\n\n")
    f.write("| run | ranks | N | create | evaluate | own pts (max) | ghosts (max) | LET boxes (max) | LET MB sent (max) | LET MB per 1e6 own points | bytes held per box of the tree (max rank): tree / buffers / all |\n")
    f.write("|---|---|---|---|---|---|---|---|---|---|---|\n")
    for r in rows:
        f.write(f"| {r[0]} {r[4]} | {r[1]} | {int(r[2]):.2e} | {r[5]} s | {r[6]} s | {r[7]} | {r[8]} | {r[9]} | {r[10]} | {r[13]} | {r[14]} / {r[15]} / {r[16]} |\n")
print(open(sys.argv[2]).read())
PY
