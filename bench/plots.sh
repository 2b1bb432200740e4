#!/usr/bin/env bash
# bench/plots.sh - PNGs from the CSVs in bench/results/ (each plot is skipped when its data is
# missing): breakdown.png (per-operator time, like the paper's Figure 4), scaling.png (time vs N,
# log-log) and scaling_per_point.png, accuracy.png (error vs order).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

if ! command -v gnuplot >/dev/null 2>&1; then
  echo "installing gnuplot-nox"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get install -y -qq gnuplot-nox >/dev/null || { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq gnuplot-nox >/dev/null; }
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# ---- operator breakdown: one stacked bar per configuration ----
if [ -s "$RESULTS/breakdown.csv" ]; then
  awk -F, 'NR > 1 && $1 == "table1" {
      key = $2 " k=" ($5 == 152 ? "full" : $5)
      if (!(key in seen)) { seen[key] = ++nk; name[nk] = key }
      t[key, $8] = $9
    }
    END {
      printf "config P2M M2M M2L L2L L2P M2P P2L P2P\n"
      for (i = 1; i <= nk; i++) {
        k = name[i]; gsub(" ", "_", k); printf "%s", k
        split("P2M M2M M2L L2L L2P M2P P2L P2P", ops, " ")
        for (o = 1; o <= 8; o++) printf " %s", t[name[i], ops[o]] + 0
        printf "\n"
      }
    }' "$RESULTS/breakdown.csv" >"$tmp/breakdown.dat"
  gnuplot <<GP
set terminal pngcairo size 1100,600 font ",11"
set output "$RESULTS/breakdown.png"
set termoption noenhanced
set title "kifmm operator times, N = 1e6, p = 6, leaf 150, 2 threads (median of repetitions)"
set style data histograms
set style histogram rowstacked
set style fill solid 0.85 border -1
set boxwidth 0.7
set ylabel "seconds per evaluation"
set key outside right top
set xtics rotate by -30
set grid ytics
plot for [i=2:9] "$tmp/breakdown.dat" using i:xtic(1) title columnheader(i)
GP
  # the same as shares of the total (the paper's Figure 4 is in percent)
  gnuplot <<GP
set terminal pngcairo size 1100,600 font ",11"
set output "$RESULTS/breakdown_share.png"
set termoption noenhanced
set title "kifmm operator share of the evaluation, N = 1e6, p = 6, leaf 150, 2 threads"
set style data histograms
set style histogram rowstacked
set style fill solid 0.85 border -1
set boxwidth 0.7
set ylabel "percent of the evaluation"
set yrange [0:100]
set key outside right top
set xtics rotate by -30
set grid ytics
plot for [i=2:9] "$tmp/breakdown.dat" using (100*column(i)/(\$2+\$3+\$4+\$5+\$6+\$7+\$8+\$9)):xtic(1) title columnheader(i)
GP
  echo "wrote $RESULTS/breakdown.png, breakdown_share.png"
fi

# ---- scaling: time vs N and time per point ----
if [ -s "$RESULTS/scaling.csv" ]; then
  awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
    { f = $c["dist"] "_" $c["threads"] "t"; print $c["n_src"], $c["t_eval"], $c["t_tree"], $c["t_eval"] / $c["n_src"] * 1e6 > ("'"$tmp"'/s_" f ".dat") }' \
    "$RESULTS/scaling.csv"
  plots=""; plots_pp=""
  for f in "$tmp"/s_*.dat; do
    name=$(basename "$f" .dat); name=${name#s_}; label=${name//_/, }
    plots+="\"$f\" using 1:2 with linespoints title \"$label evaluate\", "
    plots_pp+="\"$f\" using 1:4 with linespoints title \"$label\", "
  done
  gnuplot <<GP
set terminal pngcairo size 900,650 font ",11"
set output "$RESULTS/scaling.png"
set title "kifmm evaluate time vs N (p = 6, leaf 150, potential + gradient)"
set logscale xy
set xlabel "N (sources = targets)"
set ylabel "seconds"
set grid
set key left top
plot ${plots} 1e-5*x title "slope 1 (10 us/point)" with lines dashtype 2 lc rgb "gray"
GP
  gnuplot <<GP
set terminal pngcairo size 900,650 font ",11"
set output "$RESULTS/scaling_per_point.png"
set title "kifmm evaluate time per point (p = 6, leaf 150, potential + gradient)"
set logscale x
set xlabel "N (sources = targets)"
set ylabel "microseconds per point"
set yrange [0:*]
set grid
set key left top
plot ${plots_pp%, }
GP
  echo "wrote $RESULTS/scaling.png, scaling_per_point.png"
fi

# ---- accuracy: error vs order ----
if [ -s "$RESULTS/accuracy.csv" ]; then
  awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
    { print $c["order"], $c["err_pot"], $c["err_grad"], $c["t_eval"] > ("'"$tmp"'/a_" $c["dist"] ".dat") }' \
    "$RESULTS/accuracy.csv"
  plots=""
  for f in "$tmp"/a_*.dat; do
    d=$(basename "$f" .dat); d=${d#a_}
    plots+="\"$f\" using 1:2 with linespoints title \"$d potential\", \"$f\" using 1:3 with linespoints dashtype 2 title \"$d gradient\", "
  done
  gnuplot <<GP
set terminal pngcairo size 900,650 font ",11"
set output "$RESULTS/accuracy.png"
set title "kifmm relative L2 error vs expansion order (1000 sampled targets vs direct)"
set logscale y
set format y "10^{%L}"
set xlabel "order p"
set ylabel "relative L2 error"
set grid
plot ${plots%, }
GP
  echo "wrote $RESULTS/accuracy.png"
fi
