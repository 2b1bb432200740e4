"""Build of the kifmm extension (setup.py: the C extension; metadata in pyproject.toml).

Offline, with Debian's python3-setuptools, python3-numpy and python3-dev:

    python3 -m venv --system-site-packages .venv
    .venv/bin/pip install --no-build-isolation --no-index ./python

Compiled with -O3 and OpenMP; with OpenBLAS through CBLAS when `pkg-config --exists openblas`.
On x86-64 the extension is compiled three times: baseline x86-64 (runs anywhere), x86-64-v3
(AVX2, FMA) and x86-64-v4 (AVX-512); `import kifmm` loads the best one the CPU runs (the P2P
kernel and the built-in GEMM vectorise: about 3x faster evaluations with AVX-512 than baseline).

Build-time switches (environment variables read by this file only; the library itself never
reads the environment):
    KIFMM_NATIVE=1    one module, with -march=native (it then runs only on CPUs like the build machine)
    KIFMM_DISPATCH=0  the baseline module only
    KIFMM_BLAS=none   the library's built-in GEMM even where OpenBLAS is installed
"""
import os
import platform
import re
import shlex
import subprocess
import sys
import sysconfig

import numpy
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)          # the repository: kifmm.h, kifmm_ops.h, kifmm_tree.h
HEADERS = [os.path.join(ROOT, h) for h in ("kifmm.h", "kifmm_ops.h", "kifmm_tree.h")]

missing = [h for h in HEADERS if not os.path.exists(h)]
if missing:
    sys.exit("kifmm: %s not found: build the Python package from inside the kifmm repository "
             "(python/ next to kifmm.h)" % ", ".join(missing))


def version():
    text = open(HEADERS[0]).read()
    parts = [re.search(r"#define KIFMM_VERSION_%s (\d+)" % k, text) for k in ("MAJOR", "MINOR", "PATCH")]
    if not all(parts):
        return "0.0.0"
    return ".".join(p.group(1) for p in parts)


def pkg_config(*args):
    try:
        out = subprocess.run(["pkg-config"] + list(args), check=True, stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, universal_newlines=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    return shlex.split(out)


cflags = ["-O3", "-fopenmp", "-fvisibility=hidden", "-Wall", "-Wextra"]
ldflags = ["-fopenmp"]
macros = []
libraries = ["m"]

blas = os.environ.get("KIFMM_BLAS", "auto").lower()
if blas not in ("none", "0", "off") and pkg_config("--exists", "openblas") is not None:
    macros.append(("KIFMM_USE_CBLAS", "1"))
    cflags += pkg_config("--cflags", "openblas") or []
    ldflags += pkg_config("--libs", "openblas") or []
    print("kifmm: OpenBLAS through CBLAS (pkg-config openblas)")
else:
    print("kifmm: the library's built-in GEMM")


def compiler_accepts(flag):
    """whether the C compiler setuptools will use takes flag (a test compile of an empty unit)"""
    cc = shlex.split(sysconfig.get_config_var("CC") or "cc")
    try:
        return subprocess.run(cc + [flag, "-x", "c", "-c", "-o", os.devnull, "-"], input="int kifmm_probe;\n",
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              universal_newlines=True).returncode == 0
    except OSError:
        return False


# (module, extra flags, ISA name): the baseline module always; on x86-64, the same code for
# x86-64-v3 (AVX2 + FMA) and x86-64-v4 (AVX-512), picked at import by the CPU (kifmm/__init__.py)
if os.environ.get("KIFMM_NATIVE", "0") not in ("", "0"):
    variants = [("_kifmm", ["-march=native"], "native")]
    macros.append(("KIFMM_PY_NATIVE", "1"))
else:
    variants = [("_kifmm", [], "baseline")]
    if (os.environ.get("KIFMM_DISPATCH", "1") not in ("", "0") and platform.machine().lower() in ("x86_64", "amd64")):
        for level in ("v3", "v4"):
            if compiler_accepts("-march=x86-64-" + level):
                variants.append(("_kifmm_" + level, ["-march=x86-64-" + level], "x86-64-" + level))
print("kifmm: modules " + ", ".join("%s (%s)" % (v[0], v[2]) for v in variants))

exts = [Extension(
    "kifmm." + name,
    sources=["kifmm/%s.c" % name],
    include_dirs=[ROOT, numpy.get_include()],
    define_macros=macros + ([("KIFMM_PY_ISA", '"%s"' % isa)] if name == "_kifmm" else []),
    extra_compile_args=cflags + flags,
    extra_link_args=ldflags,
    libraries=libraries,
    depends=HEADERS + ["kifmm/_kifmm.c"],
) for name, flags, isa in variants]


class BuildExt(build_ext):
    """always recompile: the object in build/ may come from other flags (KIFMM_NATIVE, KIFMM_BLAS)
    or older headers"""

    def finalize_options(self):
        super().finalize_options()
        self.force = True
        if self.parallel is None:
            self.parallel = min(len(exts), os.cpu_count() or 1)

    def run(self):
        # an in-tree build reuses build/lib: drop the modules of an earlier build with other
        # variants (a stale _kifmm_v4 next to a KIFMM_NATIVE=1 _kifmm would be preferred at import)
        stale = os.path.join(self.build_lib, "kifmm")
        if os.path.isdir(stale):
            for f in os.listdir(stale):
                if f.startswith("_kifmm") and f.endswith((".so", ".pyd", ".c")):
                    os.remove(os.path.join(stale, f))
        super().run()

    def build_extensions(self):
        # Python's own CFLAGS carry -g (and -O2, which the -O3 after it overrides): debug info
        # doubles the compile time and the wheel's size for nothing a user needs
        for attr in ("compiler_so", "compiler"):
            cmd = getattr(self.compiler, attr, None)
            if isinstance(cmd, list):
                setattr(self.compiler, attr, [a for a in cmd if a != "-g"])
        super().build_extensions()


setup(version=version(), packages=["kifmm"], include_package_data=False, ext_modules=exts,
      cmdclass={"build_ext": BuildExt})
