#!/usr/bin/env bash
# bench/paper.sh - the seed paper's (PyExaFMM) Table 1 and Figure 3/4 for kifmm:
# N = 10^6 points (sources = targets), leaf size 150, order p = 6, uniform cube and unit-sphere
# surface, M2L rank k in {10, 50, 100, full (= 6(p-1)^2+2 = 152)} plus the library's default
# (rank from the singular-value tolerance 10^-p). One process per configuration.
#
# Writes bench/results/: table1.md, table1.csv (every driver column), breakdown.csv (per-operator
# seconds and shares), peak.txt/peak.csv (this machine's kernel limits), table1.log (the reports).
#
# Environment: N (1e6), REPS (3), THREADS (2), RANKS ("10 50 100 full default"), DISTS ("cube sphere"),
#   BENCH_OPENBLAS_THREADS (1, see common.sh)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

N=${N:-1e6}
REPS=${REPS:-3}
THREADS=${THREADS:-2}
RANKS=${RANKS:-"10 50 100 full default"}
DISTS=${DISTS:-"cube sphere"}

bench_build
csv="$RESULTS/table1.csv"
breakdown="$RESULTS/breakdown.csv"
log="$RESULTS/table1.log"
rm -f "$csv" "$breakdown"
{
  echo "# bench/paper.sh, $(date -Iseconds)"
  echo "# machine: $(machine_line)"
  echo "# source: $BENCH_SOURCE"
  echo "# N=$N REPS=$REPS THREADS=$THREADS RANKS='$RANKS' DISTS='$DISTS'"
} >"$log"

echo "== machine limits (bench/build/peak) =="
run_peak "$THREADS" --order 6 --ranks 10,50,100,143,152 --csv "$RESULTS/peak.csv" | tee "$RESULTS/peak.txt"

for dist in $DISTS; do
  for rank in $RANKS; do
    args=(--n "$N" --dist "$dist" --order 6 --leaf 150 --reps "$REPS" --peak --label "table1"
          --csv "$csv" --breakdown "$breakdown")
    [ "$rank" != default ] && args+=(--rank "$rank")
    echo "== $dist, rank $rank =="
    run_bench "$THREADS" "${args[@]}" | tee -a "$log"
  done
done

# ---- table1.md from table1.csv (columns looked up by name) ----
awk -F, -v n="$N" -v reps="$REPS" -v threads="$THREADS" -v machine="$(machine_line)" -v blas="$BENCH_BLAS" \
    -v src="$BENCH_SOURCE" '
NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
{ rows[NR] = $0 }
END {
  printf "# kifmm: the seed paper'"'"'s Table 1 configurations\n\n"
  printf "N = %s sources = targets, leaf size 150, order p = 6, potential + gradient, %s threads, %s.\n", n, threads, blas
  printf "Machine: %s (shared with other work: times are medians of %s evaluations, min-max in brackets).\n", machine, reps
  printf "Source: %s.\n", src
  printf "k = M2L compression rank (full = 6(p-1)^2+2 = 152; default = chosen by the singular-value tolerance 10^-p).\n"
  printf "Runtime = one kifmm_evaluate; tree and precompute are paid once per point set / per order.\n"
  printf "Errors: relative L2 over 1000 sampled targets against kifmm_direct. Peak memory: getrusage ru_maxrss of the process.\n\n"
  printf "| distribution | k | runtime (s) | peak memory (MiB) | rel. error potential | rel. error gradient | tree (s) | precompute (s) | kifmm bytes (MiB) | P2P %% of kernel | M2L %% of DGEMM |\n"
  printf "|---|---|---|---|---|---|---|---|---|---|---|\n"
  for (r = 2; r <= NR; r++) {
    split(rows[r], f, ",")
    k = f[c["rank_req"]] == 0 ? "default (" f[c["rank"]] ")" : (f[c["rank_req"]] == 152 ? "full (152)" : f[c["rank"]])
    printf "| %s | %s | %.2f [%.2f-%.2f] | %.0f | %.2e | %.2e | %.2f | %.2f | %.0f | %.0f%% | %.0f%% |\n",
      f[c["dist"]], k, f[c["t_eval"]], f[c["t_eval_min"]], f[c["t_eval_max"]], f[c["rss_mib"]],
      f[c["err_pot"]], f[c["err_grad"]], f[c["t_tree"]], f[c["t_pre"]], f[c["bytes_mib"]],
      100 * f[c["p2p_frac"]], 100 * f[c["m2l_frac"]]
  }
  printf "\n## Per-operator share of the evaluation (the paper'"'"'s Figure 3/4), percent of the operator total\n\n"
  printf "| distribution | k | P2M | M2M | M2L | L2L | L2P | M2P | P2L | P2P | M2L GFLOP/s | P2P pairs/s | load avg |\n"
  printf "|---|---|---|---|---|---|---|---|---|---|---|---|---|\n"
  split("t_p2m t_m2m t_m2l t_l2l t_l2p t_m2p t_p2l t_p2p", ops, " ")
  for (r = 2; r <= NR; r++) {
    split(rows[r], f, ",")
    tot = 0
    for (o = 1; o <= 8; o++) tot += f[c[ops[o]]]
    k = f[c["rank_req"]] == 0 ? "default (" f[c["rank"]] ")" : (f[c["rank_req"]] == 152 ? "full (152)" : f[c["rank"]])
    printf "| %s | %s |", f[c["dist"]], k
    for (o = 1; o <= 8; o++) printf " %.1f |", (tot > 0 ? 100 * f[c[ops[o]]] / tot : 0)
    printf " %.1f | %.3g | %.1f |\n", f[c["m2l_gflops"]], f[c["p2p_pairs_per_s"]], f[c["load1"]]
  }
}' "$csv" >"$RESULTS/table1.md"
echo "wrote $RESULTS/table1.md, table1.csv, breakdown.csv, peak.txt"
"$BENCH_DIR/plots.sh" || echo "plots.sh failed (the tables are written)"
