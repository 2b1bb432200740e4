#!/usr/bin/env bash
# bench/scaling.sh - cost vs N: N = 10^4 ... 10^7 (sources = targets), uniform cube and
# unit-sphere surface, p = 6, leaf 150, potential + gradient, 1 and 2 threads. One process per
# configuration. A linear-cost FMM has a constant time per point and slope 1 in log(time) vs
# log(N); the fitted slopes (least squares over all N) are written to scaling.md.
#
# Writes bench/results/scaling.csv, scaling.md, scaling.log and the plots (plots.sh).
# Environment: NS ("1e4 3e4 1e5 3e5 1e6 3e6 1e7"), DISTS ("cube sphere"), THREADS_LIST ("1 2"),
#   REPS (3; runs with N >= BIG use REPS_BIG, default 1), BIG (3e6), MAXN_1T (largest N run on one
#   thread, default 3e6). 10^7 points take about 5 GB and 1-3 minutes per run; do not go beyond
#   what the memory allows (24 GiB here: 10^7 is the largest size tried).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

NS=${NS:-"1e4 3e4 1e5 3e5 1e6 3e6 1e7"}
DISTS=${DISTS:-"cube sphere"}
THREADS_LIST=${THREADS_LIST:-"1 2"}
REPS=${REPS:-3}
REPS_BIG=${REPS_BIG:-1}
BIG=${BIG:-3e6}
MAXN_1T=${MAXN_1T:-3e6}

bench_build
csv="$RESULTS/scaling.csv"
log="$RESULTS/scaling.log"
rm -f "$csv"
{
  echo "# bench/scaling.sh, $(date -Iseconds)"
  echo "# machine: $(machine_line)"
  echo "# source: $BENCH_SOURCE"
  echo "# NS='$NS' DISTS='$DISTS' THREADS_LIST='$THREADS_LIST' REPS=$REPS REPS_BIG=$REPS_BIG BIG=$BIG MAXN_1T=$MAXN_1T"
} >"$log"

ge() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 >= b + 0) }'; }

for n in $NS; do
  for dist in $DISTS; do
    for t in $THREADS_LIST; do
      if [ "$t" = 1 ] && ge "$n" "$MAXN_1T" && [ "$n" != "$MAXN_1T" ]; then continue; fi
      reps=$REPS
      ge "$n" "$BIG" && reps=$REPS_BIG
      echo "== N=$n $dist threads=$t reps=$reps =="
      run_bench "$t" --n "$n" --dist "$dist" --order 6 --leaf 150 --reps "$reps" --label scaling --csv "$csv" \
        | tee -a "$log"
    done
  done
done

# ---- scaling.md: time per point and the fitted slope of log(time) vs log(N) ----
awk -F, -v machine="$(machine_line)" -v blas="$BENCH_BLAS" -v src="$BENCH_SOURCE" '
NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
{
  key = $c["dist"] ", " $c["threads"] " thread" ($c["threads"] == 1 ? "" : "s")
  if (!(key in seen)) { seen[key] = ++nk; name[nk] = key }
  m = ++cnt[key]
  N[key, m] = $c["n_src"]; T[key, m] = $c["t_eval"]; TT[key, m] = $c["t_tree"]; R[key, m] = $c["rss_mib"]
  E[key, m] = $c["err_pot"]; D[key, m] = $c["depth"]; L[key, m] = $c["load1"]; P[key, m] = $c["reps"]
  PRE[key, m] = $c["t_pre"]
}
function slope(key, col,   i, x, y, sx, sy, sxx, sxy, n) {
  sx = sy = sxx = sxy = 0; n = cnt[key]
  for (i = 1; i <= n; i++) {
    x = log(N[key, i]); y = log(col == "tree" ? TT[key, i] : T[key, i])
    sx += x; sy += y; sxx += x * x; sxy += x * y
  }
  return n > 1 ? (n * sxy - sx * sy) / (n * sxx - sx * sx) : 0
}
END {
  printf "# kifmm scaling: evaluate time vs N\n\n"
  printf "Order p = 6, leaf 150, sources = targets, potential + gradient, %s. Machine: %s, shared with\n", blas, machine
  printf "other work (load avg column): times are the median of the repetitions (reps column).\n"
  printf "Source: %s.\n\n", src
  printf "| case | N | depth | evaluate (s) | us / point | tree (s) | precompute (s) | peak RSS (MiB) | rel. error pot. | reps | load avg |\n"
  printf "|---|---|---|---|---|---|---|---|---|---|---|\n"
  for (k = 1; k <= nk; k++) {
    key = name[k]
    for (i = 1; i <= cnt[key]; i++)
      printf "| %s | %.0e | %d | %.3f | %.2f | %.3f | %.2f | %.0f | %.2e | %d | %.1f |\n", key, N[key, i], D[key, i],
        T[key, i], 1e6 * T[key, i] / N[key, i], TT[key, i], PRE[key, i], R[key, i], E[key, i], P[key, i], L[key, i]
  }
  printf "\nLeast-squares slope of log(time) vs log(N) (1 = linear cost):\n\n| case | N range | evaluate slope | tree slope |\n|---|---|---|---|\n"
  for (k = 1; k <= nk; k++) {
    key = name[k]
    printf "| %s | %.0e - %.0e | %.3f | %.3f |\n", key, N[key, 1], N[key, cnt[key]], slope(key, "eval"), slope(key, "tree")
  }
}' "$csv" >"$RESULTS/scaling.md"
echo "wrote $RESULTS/scaling.md, scaling.csv"
"$BENCH_DIR/plots.sh" || echo "plots.sh failed (the tables are written)"
