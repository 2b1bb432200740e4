#!/usr/bin/env bash
# bench/anchor.sh - kifmm beside the C++ anchor (ExaFMM-T) on ExaFMM-T's own problem: 10^6 sources
# and 10^6 separate targets, charges uniform in [-0.5, 0.5], potential and gradient, 2 threads.
# The anchor's figures are quoted from the performance issue (measured on this machine, idle);
# kifmm's are measured here, one process per row, with the settings in ROWS below, found by
# sweeps of order, leaf size and M2L tolerance in the same sessions: the fastest whose errors are
# no larger than the anchor's in both potential and gradient. 10^6 uniform points fill a depth-4
# tree with 244 per leaf and a depth-5 one with 31 (8x the M2L pairs, 1/8 the P2P pairs); at
# p = 8 and 9 a root cube 1.6x the points' (config.box, --box-scale) puts about 110 in each
# depth-5 leaf, between the two (scales 1.5 and 1.55 gave nothing: where the grid falls on the
# points' faces matters). At p = 6 the depth-5 tree (leaf 150) wins once the M2L tolerance is
# loosened to 1.5e-6 (p, not the tolerance, sets the error there: 2.2e-6 either way); a 1.6x box
# there gives 2.6e-6, too close to the anchor's 2.7e-6. On the sphere (adaptive) the box changes
# nothing; leaf 300 beat 200, 250, 400 and 500. Errors on 5000 sampled targets: with 1000 the
# gradient's estimate swings by 2x (a few targets near a source dominate it).
# Each row runs RUNS times, one process each (tree and precompute are timed once per process, and
# this shared machine drifts by 5-10 % between minutes); the table shows the run with the median
# total and the range of the totals. Writes bench/results/anchor.md and anchor.csv.  Environment:
# N (1e6), REPS (3), RUNS (3), SAMPLES (5000), THREADS (2).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

# The built-in GEMM by default (BENCH_CBLAS=1 for OpenBLAS): the M2L's GEMMs are the built-in
# ones in either build (inside OpenMP regions), and outside them the built-in splits the
# precomputation's GEMMs over the OpenMP threads, where OpenBLAS runs them on the one thread
# common.sh gives it (p = 9 precompute: 2.1 s built-in, 2.7 s OpenBLAS, same session).
export BENCH_CBLAS=${BENCH_CBLAS:-0}
N=${N:-1e6}
REPS=${REPS:-3}
RUNS=${RUNS:-3}
SAMPLES=${SAMPLES:-5000}
THREADS=${THREADS:-2}
# case | anchor total s | anchor evaluate s | anchor error pot / grad | anchor peak MiB | kifmm args
ROWS=(
  "cube ~3e-6|4.72|3.96|2.7e-6 / 1.4e-5|1658|--dist cube --order 6 --leaf 150 --m2l-tol 1.5e-6"
  "cube ~5e-8|5.72|5.30|5.6e-8 / 1.6e-7|729|--dist cube --order 8 --leaf 400 --m2l-tol 1.5e-8 --box-scale 1.6"
  "cube ~2.6e-8|7.17|6.69|2.6e-8 / 7.2e-8|1141|--dist cube --order 9 --leaf 400 --m2l-tol 3e-8 --box-scale 1.6"
  "sphere ~1e-6|4.00|3.44|7.6e-7 / 6.2e-9|819|--dist sphere --order 8 --leaf 300 --m2l-tol 2e-7"
  "cube ~2.4e-4|2.49|1.79|2.4e-4 / 5.9e-4|744|--dist cube --order 4 --leaf 64"
)

bench_build
csv="$RESULTS/anchor.csv"
md="$RESULTS/anchor.md"
rm -f "$csv"
for run in $(seq "$RUNS"); do        # rows interleaved: a slow minute hits every row once
  for row in "${ROWS[@]}"; do
    IFS='|' read -r name _ _ _ _ args <<<"$row"
    echo "== run $run, $name: kifmm_bench $args"
    # shellcheck disable=SC2086
    run_bench "$THREADS" --n "$N" --separate-targets --reps "$REPS" --samples "$SAMPLES" $args --label "$name" \
      --csv "$csv" | tail -n 4
  done
done

python3 - "$csv" "$md" "$(machine_line)" "$BENCH_SOURCE" "${ROWS[@]}" <<'PY'
import csv, sys
path, md, machine, source, rows = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:]
runs = {}
for r in csv.DictReader(open(path)):
    runs.setdefault(r["label"], []).append(r)
tot = lambda r: float(r["t_tree"]) + float(r["t_pre"]) + float(r["t_eval"])
got = {k: sorted(v, key=tot)[(len(v) - 1) // 2] for k, v in runs.items()}     # the median run
out = ["# kifmm beside ExaFMM-T (10^6 sources + 10^6 separate targets, potential + gradient)", "",
       f"Machine: {machine}. Source: {source}.",
       "Anchor figures quoted from the performance issue; kifmm measured by bench/anchor.sh "
       "(evaluate = median of the repetitions; total = tree + precompute + evaluate; each row the run "
       "with the median total of its runs, their range in brackets).", "",
       "| case | code | settings | total (s) | tree + pre + eval (s) | error pot / grad | peak RSS (MiB) | total ratio |",
       "|---|---|---|---|---|---|---|---|"]
for row in rows:
    name, at, ae, aerr, arss, args = row.split("|")
    out.append(f"| {name} | ExaFMM-T | | {at} | eval {ae} | {aerr} | {arss} | |")
    r = got.get(name)
    if not r:
        out.append(f"| {name} | kifmm | {args} | not run | | | | |")
        continue
    total = tot(r)
    ts = sorted(tot(x) for x in runs[name])
    tol = f"{float(r['m2l_tol']):.1e}" if float(r['m2l_tol']) > 0 else "default"
    s = f"p={r['order']} leaf {r['leaf']} tol {tol} k={r['rank']}"
    if float(r.get("box_scale") or 0) > 0:
        s += f" box {float(r['box_scale']):g}x"
    out.append(f"| {name} | kifmm | {s} | {total:.2f} [{ts[0]:.2f}-{ts[-1]:.2f}] | "
               f"{float(r['t_tree']):.2f} + {float(r['t_pre']):.2f} + {float(r['t_eval']):.2f} | "
               f"{float(r['err_pot']):.1e} / {float(r['err_grad']):.1e} | {float(r['rss_mib']):.0f} | "
               f"{total / float(at):.2f} |")
open(md, "w").write("\n".join(out) + "\n")
print("\n".join(out))
PY
