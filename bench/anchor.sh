#!/usr/bin/env bash
# bench/anchor.sh - kifmm beside the C++ anchor (ExaFMM-T) on ExaFMM-T's own problem: 10^6 sources
# and 10^6 separate targets, charges uniform in [-0.5, 0.5], potential and gradient, 2 threads.
# With EXAFMM_T_SRC=<ExaFMM-T source tree> (github:exafmm/exafmm-t, outside this repository; the
# project's anchors README has the recipe) the anchor is built there when tests/fmm_laplace is
# missing (./configure && make -C tests fmm_laplace; EXAFMM_T_CONFIGURE for configure's arguments,
# e.g. CXXFLAGS="-O2 -mno-avx512f") and run in this same run, alternating with kifmm per row
# (ExaFMM-T, kifmm, ExaFMM-T, ...), cold (its precomputation cache deleted before every run), and
# the ratios are from this run. Without it, the anchor's figures are quoted: RECORDED_FROM below
# says where they were measured. kifmm runs one process per row, with the settings in ROWS below, found by
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
# N (1e6), REPS (3), RUNS (3), SAMPLES (5000), THREADS (2), EXAFMM_T_SRC, EXTRA_CFLAGS (e.g.
# -mno-avx512f: kifmm's AVX2 path; build ExaFMM-T alike), OUT (result files' name, default anchor).
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
# case | recorded anchor total s | evaluate s | error pot / grad | peak MiB | ExaFMM-T args | kifmm args
RECORDED_FROM="an earlier idle 2-core AMD EPYC Zen 3 (AVX2, no AVX-512), quoted from the performance issue"
ROWS=(
  "cube ~3e-6|4.72|3.96|2.7e-6 / 1.4e-5|1658|-P 6 -c 150 -d c|--dist cube --order 6 --leaf 150 --m2l-tol 1.5e-6"
  "cube ~5e-8|5.72|5.30|5.6e-8 / 1.6e-7|729|-P 8 -c 400 -d c|--dist cube --order 8 --leaf 400 --m2l-tol 1.5e-8 --box-scale 1.6"
  "cube ~2.6e-8|7.17|6.69|2.6e-8 / 7.2e-8|1141|-P 10 -c 400 -d c|--dist cube --order 9 --leaf 400 --m2l-tol 3e-8 --box-scale 1.6"
  "sphere ~1e-6|4.00|3.44|7.6e-7 / 6.2e-9|819|-P 6 -c 400 -d s|--dist sphere --order 8 --leaf 300 --m2l-tol 2e-7"
  "cube ~2.4e-4|2.49|1.79|2.4e-4 / 5.9e-4|744|-P 4 -c 64 -d c|--dist cube --order 4 --leaf 64"
)

exa=""
if [ -n "${EXAFMM_T_SRC:-}" ]; then
  exa="$EXAFMM_T_SRC/tests/fmm_laplace"
  if [ ! -x "$exa" ]; then
    echo "building ExaFMM-T in $EXAFMM_T_SRC (./configure ${EXAFMM_T_CONFIGURE:-}; make -C tests fmm_laplace)"
    # shellcheck disable=SC2086
    (cd "$EXAFMM_T_SRC" && ./configure ${EXAFMM_T_CONFIGURE:-} && make -j"$(nproc)" -C tests fmm_laplace) \
      >"$BUILD/exafmm_t_build.log" 2>&1 || { echo "ExaFMM-T build failed, see $BUILD/exafmm_t_build.log"; exit 1; }
  fi
  mkdir -p "$BUILD/exafmm-t-run"
fi
run_exa() {   # name, args: one cold ExaFMM-T run, appended to $exa_csv as name,total,eval,err_pot,err_grad,rss_mib
  local name=$1 args=$2 log="$BUILD/exafmm-t-run/out.txt" n
  n=$(printf '%.0f' "$N")               # (its -n takes an integer: "1e6" would read as 1)
  rm -f "$BUILD"/exafmm-t-run/*.dat
  # shellcheck disable=SC2086
  (cd "$BUILD/exafmm-t-run" && OMP_NUM_THREADS=$THREADS OPENBLAS_NUM_THREADS=1 /usr/bin/time -v "$exa" -n "$n" $args \
     -T "$THREADS") >"$log" 2>&1 || { echo "ExaFMM-T failed, see $log"; return 1; }
  awk -v name="$name" -F: '/^Total /{t=$2} /^Evaluation  /{e=$2} /^Potential Error L2/{p=$2} /^Gradient Error L2/{g=$2}
    /Maximum resident set size/{r=$2}
    END { printf "%s,%g,%g,%g,%g,%.0f\n", name, t, e, p, g, r / 1024 }' "$log" >>"$exa_csv"
  tail -n 1 "$exa_csv"
}

bench_build
csv="$RESULTS/${OUT:-anchor}.csv"
md="$RESULTS/${OUT:-anchor}.md"
exa_csv="$RESULTS/${OUT:-anchor}_exafmm_t.csv"
rm -f "$csv" "$exa_csv"
for run in $(seq "$RUNS"); do        # rows interleaved: a slow minute hits every row once
  for row in "${ROWS[@]}"; do
    IFS='|' read -r name _ _ _ _ eargs args <<<"$row"
    if [ -n "$exa" ]; then echo "== run $run, $name: ExaFMM-T $eargs"; run_exa "$name" "$eargs"; fi
    echo "== run $run, $name: kifmm_bench $args"
    # shellcheck disable=SC2086
    run_bench "$THREADS" --n "$N" --separate-targets --reps "$REPS" --samples "$SAMPLES" $args --label "$name" \
      --csv "$csv" | tail -n 4
  done
done

python3 - "$csv" "$md" "$(machine_line)" "$BENCH_SOURCE" "$exa_csv" "$RECORDED_FROM" "${EXAFMM_T_SRC:-}" "${ROWS[@]}" <<'PY'
import csv, os, statistics, subprocess, sys
path, md, machine, source, exa_csv, recorded, exa_src, rows = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6], sys.argv[7], sys.argv[8:]
exa = {}
if os.path.exists(exa_csv):
    for line in open(exa_csv):
        f = line.strip().split(",")
        exa.setdefault(f[0], []).append([float(x) for x in f[1:]])
runs = {}
for r in csv.DictReader(open(path)):
    runs.setdefault(r["label"], []).append(r)
tot = lambda r: float(r["t_tree"]) + float(r["t_pre"]) + float(r["t_eval"])
got = {k: sorted(v, key=tot)[(len(v) - 1) // 2] for k, v in runs.items()}     # the median run
if exa:
    rev = subprocess.run(["git", "-C", exa_src, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    how = (f"ExaFMM-T ({exa_src} at {rev or 'unknown revision'}, tests/fmm_laplace, cold: its cache deleted "
           "before each run) run in this same run, alternating with kifmm row by row; its total is its own "
           "'Total' line (tree, lists, precomputation, evaluation), the median of its runs with their range")
else:
    how = f"ExaFMM-T's figures NOT measured in this run: recorded on {recorded}"
out = ["# kifmm beside ExaFMM-T (10^6 sources + 10^6 separate targets, potential + gradient)", "",
       f"Machine: {machine}. Source: {source}.",
       how + "; kifmm measured by bench/anchor.sh (evaluate = median of the repetitions; total = tree + "
       "precompute + evaluate; each row the run with the median total of its runs, their range in brackets).", "",
       "| case | code | settings | total (s) | tree + pre + eval (s) | error pot / grad | peak RSS (MiB) | total ratio |",
       "|---|---|---|---|---|---|---|---|"]
for row in rows:
    name, at, ae, aerr, arss, eargs, args = row.split("|")
    if name in exa:
        e = sorted(exa[name], key=lambda v: v[0])
        m = e[(len(e) - 1) // 2]
        at = m[0]
        out.append(f"| {name} | ExaFMM-T | {eargs} | {m[0]:.2f} [{e[0][0]:.2f}-{e[-1][0]:.2f}] | eval {m[1]:.2f} | "
                   f"{m[2]:.1e} / {m[3]:.1e} | {m[4]:.0f} | |")
    else:
        out.append(f"| {name} | ExaFMM-T (recorded) | {eargs} | {at} | eval {ae} | {aerr} | {arss} | |")
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
