#!/usr/bin/env bash
# bench/tune.sh - the sweep behind the defaults that config.tolerance and config.order pick
# (kifmm_order_for_tolerance, the leaf size for an order): total time (tree + precompute +
# evaluate, potential + gradient, sources = targets) and error on sampled targets against
# kifmm_direct, for each order and leaf size, at N points of the uniform cube and the sphere
# surface. Writes bench/results/tune.csv and tune.md (the fastest leaf per order and distribution).
# Environment: N (1e6), DISTS ("cube sphere"), THREADS (2), REPS (1), BENCH_CBLAS (0: built-in GEMM,
# what the README's cc line builds), ORDERS, LEAVES_<p> to override one order's leaf sizes, TABLE_ONLY,
# EXTRA_CFLAGS (-mno-avx512f: the AVX2 path), OUT (result files' name, default tune).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

N=${N:-1e6}
DISTS=${DISTS:-"cube sphere"}
THREADS=${THREADS:-2}
REPS=${REPS:-1}
ORDERS=${ORDERS:-"3 4 5 6 7 8 9 10 11 12 13 14 16"}
export BENCH_CBLAS=${BENCH_CBLAS:-0}

leaves_for() {   # a window of leaf sizes around where the cost balance of order p lies
  local v="LEAVES_$1"
  if [ -n "${!v:-}" ]; then echo "${!v}"; return; fi
  if [ "$1" -le 5 ]; then echo "32 64 100 150"
  elif [ "$1" -le 8 ]; then echo "100 150 250 400"
  elif [ "$1" -le 11 ]; then echo "150 250 400 600"
  else echo "250 400 600 900"; fi
}

bench_build
csv="$RESULTS/${OUT:-tune}.csv"
[ "${TABLE_ONLY:-0}" = 1 ] || rm -f "$csv"
for dist in $DISTS; do
  [ "${TABLE_ONLY:-0}" = 1 ] && break    # TABLE_ONLY=1: only the table, from an existing tune.csv
  for p in $ORDERS; do
    for leaf in $(leaves_for "$p"); do
      echo "== $dist p=$p leaf=$leaf"
      run_bench "$THREADS" --n "$N" --dist "$dist" --order "$p" --leaf "$leaf" --grad --reps "$REPS" \
        --samples 1000 --label tune --csv "$csv" | grep -E "^time|error" || echo "run failed"
    done
  done
done
# per distribution and order: the fastest leaf size by total time
awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
  { k = $c["dist"] " " $c["order"]; t = $c["t_tree"] + $c["t_pre"] + $c["t_eval"]
    if (!(k in best) || t < best[k]) { best[k] = t; row[k] = $0 }
    all[k] = all[k] sprintf(" %d:%.2f", $c["leaf"], t) }
  END { for (k in row) { split(row[k], f, ","); split(k, kk, " ")
          printf "| %s | %d | %d | %.2f | %.1e / %.1e |%s |\n", kk[1], kk[2], f[c["leaf"]], best[k], f[c["err_pot"]], f[c["err_grad"]], all[k] } }' \
  "$csv" | sort -t'|' -k2,2 -k3,3n >"$RESULTS/${OUT:-tune}.md.body"
{ echo "# kifmm: fastest leaf size per order (N = $N, potential + gradient, $THREADS threads)"; echo
  echo "Machine: $(machine_line). Source: $BENCH_SOURCE. BLAS: $BENCH_BLAS. cc -O3 -march=native ${EXTRA_CFLAGS:-}."; echo
  echo "| distribution | order | fastest leaf | total (s) | error pot / grad | all leaf:total (s) |"
  echo "|---|---|---|---|---|---|"
  cat "$RESULTS/${OUT:-tune}.md.body"; } >"$RESULTS/${OUT:-tune}.md"
rm -f "$RESULTS/${OUT:-tune}.md.body"
echo "wrote $RESULTS/${OUT:-tune}.md, ${OUT:-tune}.csv"
