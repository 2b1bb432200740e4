#!/usr/bin/env bash
# bench/accuracy.sh - relative error (potential and gradient, 1000 sampled targets vs
# kifmm_direct) and cost vs expansion order p, at N = 10^5 (sources = targets), uniform cube and
# unit-sphere surface, leaf 150, default M2L rank. Writes bench/results/accuracy.csv, accuracy.md
# and accuracy.png (plots.sh).
# Environment: N (1e5), ORDERS ("3 4 5 6 7 8 9 10"), DISTS ("cube sphere"), THREADS (2), REPS (1)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

N=${N:-1e5}
ORDERS=${ORDERS:-"3 4 5 6 7 8 9 10"}
DISTS=${DISTS:-"cube sphere"}
THREADS=${THREADS:-2}
REPS=${REPS:-1}

bench_build
csv="$RESULTS/accuracy.csv"
rm -f "$csv"
for dist in $DISTS; do
  for p in $ORDERS; do
    echo "== $dist p=$p =="
    run_bench "$THREADS" --n "$N" --dist "$dist" --order "$p" --leaf 150 --reps "$REPS" --label accuracy \
      --csv "$csv" | grep -E "^kifmm|error|evaluate|precompute"
  done
done
awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i
                   printf "# kifmm accuracy vs order (N = %s, leaf 150, default M2L rank)\n\n", "'"$N"'"
                   printf "Machine: %s. Source: %s.\n\n", "'"$(machine_line)"'", "'"$BENCH_SOURCE"'"
                   printf "| distribution | p | M2L rank | rel. error potential | rel. error gradient | evaluate (s) | precompute (s) |\n|---|---|---|---|---|---|---|\n"; next }
  { printf "| %s | %d | %d | %.2e | %.2e | %.3f | %.2f |\n", $c["dist"], $c["order"], $c["rank"], $c["err_pot"], $c["err_grad"], $c["t_eval"], $c["t_pre"] }' \
  "$csv" >"$RESULTS/accuracy.md"
echo "wrote $RESULTS/accuracy.md, accuracy.csv"
"$BENCH_DIR/plots.sh" || echo "plots.sh failed (the tables are written)"
