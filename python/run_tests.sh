#!/usr/bin/env bash
# python/run_tests.sh - build the Python package kifmm offline and run its pytest suite.
#
#   bash python/run_tests.sh            (from anywhere; exit status = pytest's, non-zero on failure)
#
# 1. as root on Debian: installs what is missing of python3 python3-venv python3-numpy
#    python3-pytest python3-setuptools python3-dev python3-matplotlib gcc pkg-config (apt-get)
# 2. makes a fresh venv in a temporary directory with --system-site-packages (Debian's NumPy and
#    pytest are used from there: nothing is downloaded)
# 3. installs the package from a copy of this repository's python/ and headers:
#    pip install --no-build-isolation --no-index (the checkout itself is left untouched)
# 4. runs pytest on python/tests (OMP_NUM_THREADS=2 unless set)
#
# Environment: PYTHON (default /usr/bin/python3, Debian's, whose site-packages hold python3-numpy),
# KEEP=1 keeps the temporary directory, and the build switches of setup.py (KIFMM_NATIVE=1,
# KIFMM_BLAS=none) pass through.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)

# ---- 1. Debian packages ---------------------------------------------------------------------------
if [ "$(id -u)" -eq 0 ] && command -v dpkg >/dev/null && command -v apt-get >/dev/null; then
  need=()
  for pkg in python3 python3-venv python3-numpy python3-pytest python3-setuptools python3-dev \
             python3-matplotlib gcc pkg-config; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
  done
  if [ ${#need[@]} -gt 0 ]; then
    echo "run_tests.sh: installing ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  fi
fi

PY=${PYTHON:-}
if [ -z "$PY" ]; then
  if [ -x /usr/bin/python3 ]; then PY=/usr/bin/python3; else PY=$(command -v python3); fi
fi
"$PY" -c "import numpy, setuptools" 2>/dev/null || {
  echo "run_tests.sh: $PY cannot import numpy and setuptools (Debian: apt-get install python3-numpy python3-setuptools)" >&2
  exit 2
}

# ---- 2. a fresh venv ------------------------------------------------------------------------------
TMP=$(mktemp -d "${TMPDIR:-/tmp}/kifmm-py.XXXXXX")
cleanup() { if [ "${KEEP:-0}" = 1 ]; then echo "run_tests.sh: kept $TMP"; else rm -rf "$TMP"; fi; }
trap cleanup EXIT
"$PY" -m venv --system-site-packages "$TMP/venv"
VPY="$TMP/venv/bin/python"

# ---- 3. build + install offline from a copy (no build/ or egg-info left in the checkout) ----------
mkdir -p "$TMP/src/python"
cp "$ROOT"/kifmm.h "$ROOT"/kifmm_ops.h "$ROOT"/kifmm_tree.h "$TMP/src/"
(cd "$HERE" && tar cf - --exclude=./build --exclude='./*.egg-info' --exclude=__pycache__ --exclude=.venv \
   --exclude=.pytest_cache --exclude='*.so' .) | (cd "$TMP/src/python" && tar xf -)
echo "run_tests.sh: building with $("$PY" --version) ($PY), $(gcc --version | head -n1)"
t0=$(date +%s)
if ! "$VPY" -m pip install -v --no-build-isolation --no-index "$TMP/src/python" > "$TMP/build.log" 2>&1; then
  tail -40 "$TMP/build.log"
  echo "run_tests.sh: the build FAILED (log above)" >&2
  exit 1
fi
warnings=$(grep "warning: " "$TMP/build.log" | grep -vc "byte-compiling is disabled" || true)
echo "run_tests.sh: built in $(( $(date +%s) - t0 )) s, $warnings compiler warning(s); $("$VPY" -c 'import kifmm; print("kifmm", kifmm.__version__, kifmm.build_info())')"
if [ "$warnings" != 0 ]; then grep "warning: " "$TMP/build.log" | grep -v "byte-compiling is disabled"; fi

# ---- 4. pytest on the copy of the tests, run from outside any source tree (`import kifmm` must be
#         the installed package; nothing is written into the checkout) -----------------------------
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
cd "$TMP"
set +e
"$VPY" -m pytest -q -p no:cacheprovider --durations=5 "$TMP/src/python/tests"
status=$?
set -e
exit $status
