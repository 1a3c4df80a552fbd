"""Build fastml's Cython backend: ``src_cython/*.pyx`` -> ``fastml._cython.*``.

Metadata lives in pyproject.toml; this file only declares the extensions.

* Every ``src_cython/<name>.pyx`` becomes ``fastml._cython.<name>``, except
  the CPU-dispatched hot modules (``DISPATCHED``), which are compiled once
  per CPU variant into ``fastml._cython._<name>_<variant>`` (``baseline``,
  and, when the compiler targets x86-64, ``v3`` = ``-march=x86-64-v3`` and
  ``v4`` = ``-march=x86-64-v4 -mprefer-vector-width=256``); the shim
  ``fastml/_cython/<name>.py`` picks one at import time.
* Flags: ``-O3 -fno-math-errno -fno-trapping-math``; the DISPATCHED modules
  add ``-fassociative-math -fno-signed-zeros`` so that reductions vectorise
  (never ``-ffast-math``/``-ffinite-math-only``: NaN and inf keep their meaning).
* OpenMP is used when a probe compiles and links ``-fopenmp``; otherwise the
  extensions build serially (``prange`` runs as a plain loop) with a warning.

Environment switches:

``FASTML_NATIVE=1``        add ``-march=native`` (local builds only: the
                           result may not run on other machines).
``FASTML_CYTHON_DEBUG=1``  ``-O0 -g`` and Cython's boundscheck, wraparound
                           and initializedcheck turned back on.
``FASTML_NO_OPENMP=1``     skip OpenMP even if available (serial build).

Build in place for development: ``python setup.py build_ext --inplace`` or
``pip install -e . --no-build-isolation``.
"""

import contextlib
import glob
import json
import os
import platform
import shutil
import sys
import tempfile

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

SRC_DIR = "src_cython"
PACKAGE = "fastml._cython"
VARIANT_DIR = os.path.join("build", "cython_variants")  # per-variant copies of the .pyx
CYTHON_C_DIR = os.path.join("build", "cython")  # generated C sources

# Hot modules compiled once per CPU variant (see fastml/_cython/__init__.py).
DISPATCHED = ("checks", "distance", "kmeans", "neighbors", "sgd")
VARIANT_NAMES = ("baseline", "v3", "v4")
# Modules whose reductions need reassociation to vectorise (see their docstrings).
REASSOCIATE = ("distance", "sgd")

BASE_DIRECTIVES = {
    "language_level": 3,
    "boundscheck": False,
    "wraparound": False,
    "cdivision": True,
    "initializedcheck": False,
    "embedsignature": True,
}
DEBUG_DIRECTIVES = {"boundscheck": True, "wraparound": True, "initializedcheck": True}


def _env_flag(name):
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def _warn(msg):
    print(f"\n*** fastml setup.py WARNING: {msg}\n", file=sys.stderr, flush=True)


def _extensions():
    """One Extension per module (per variant for DISPATCHED), sources = the .pyx."""
    exts = []
    for pyx in sorted(glob.glob(os.path.join(SRC_DIR, "*.pyx"))):
        name = os.path.splitext(os.path.basename(pyx))[0]
        if name in DISPATCHED:
            for variant in VARIANT_NAMES:
                ext = Extension(f"{PACKAGE}._{name}_{variant}", [pyx])
                ext.fastml_module, ext.fastml_variant = name, variant
                exts.append(ext)
        else:
            ext = Extension(f"{PACKAGE}.{name}", [pyx])
            ext.fastml_module, ext.fastml_variant = name, None
            exts.append(ext)
    return exts


@contextlib.contextmanager
def _quiet():
    """Silence a probe's compiler output (fd level, so child processes too)."""
    saved = []
    try:
        sys.stdout.flush()
        sys.stderr.flush()
        devnull = os.open(os.devnull, os.O_WRONLY)
        for fd in (1, 2):
            saved.append((fd, os.dup(fd)))
            os.dup2(devnull, fd)
        os.close(devnull)
    except OSError:
        pass
    try:
        yield
    finally:
        for fd, copy in saved:
            os.dup2(copy, fd)
            os.close(copy)


class BuildExt(build_ext):
    """Probe the compiler, cythonize, then build with the right flags."""

    def finalize_options(self):
        super().finalize_options()
        # pip passes no -j: compile the extensions (13 with the CPU variants)
        # on every core rather than one after another.
        if not self.parallel:
            self.parallel = os.cpu_count() or 1

    def _probe(self, code, compile_args=(), link_args=None):
        """True if ``code`` compiles with ``compile_args`` (and links, if link_args given)."""
        from setuptools.errors import CCompilerError, CompileError, LinkError

        tmp = tempfile.mkdtemp(prefix="fastml-probe-")
        try:
            src = os.path.join(tmp, "probe.c")
            with open(src, "w") as fh:
                fh.write(code)
            with _quiet():
                objs = self.compiler.compile(
                    [src], output_dir=tmp, extra_postargs=list(compile_args)
                )
                if link_args is not None:
                    self.compiler.link_executable(
                        objs, os.path.join(tmp, "probe"), extra_postargs=list(link_args)
                    )
            return True
        except (CCompilerError, CompileError, LinkError, OSError):
            return False
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def _configure(self):
        """Decide flags: returns (base_args, link_args, openmp, {variant: extra args})."""
        msvc = self.compiler.compiler_type == "msvc"
        debug = _env_flag("FASTML_CYTHON_DEBUG")
        if msvc:
            base = ["/Od", "/Zi"] if debug else ["/O2"]
            omp_c, omp_l = ["/openmp"], []
            variants = {"baseline": [], "v3": ["/arch:AVX2"], "v4": ["/arch:AVX512"]}
            reassoc = []
        else:
            base = ["-O0", "-g"] if debug else ["-O3"]
            base += ["-fno-math-errno", "-fno-trapping-math"]
            omp_c, omp_l = ["-fopenmp"], ["-fopenmp"]
            variants = {
                "baseline": [],
                "v3": ["-march=x86-64-v3"],
                # 256-bit vectors measured as fast as 512 (f64) or 5-10% faster (f32)
                # on Zen4; AVX-512 still brings 32 registers, masks, vpmaxsq.
                "v4": ["-march=x86-64-v4", "-mprefer-vector-width=256"],
            }
            reassoc = ["-fassociative-math", "-fno-signed-zeros"]
            if _env_flag("FASTML_NATIVE"):
                base.append("-march=native")

        # x86-64-v3/v4 variants: only when the compiler targets x86-64 and knows the flags.
        x86_check = "#if !defined(__x86_64__) && !defined(_M_X64)\n#error not x86-64\n#endif\n"
        for name in ("v3", "v4"):
            if not self._probe(
                x86_check + "int fastml_probe(void) { return 0; }\n", variants[name]
            ):
                del variants[name]

        openmp = False
        if _env_flag("FASTML_NO_OPENMP"):
            _warn("FASTML_NO_OPENMP is set: building the Cython backend without OpenMP (serial).")
        else:
            code = (
                "#include <omp.h>\n"
                "int main(void) { int n = 0;\n"
                "#pragma omp parallel reduction(+:n)\n"
                "n += 1;\n"
                "return n > 0 && omp_get_max_threads() > 0 ? 0 : 1; }\n"
            )
            openmp = self._probe(code, omp_c, omp_l)
            if not openmp:
                _warn(
                    "the C compiler cannot build OpenMP code (tried "
                    f"{' '.join(omp_c)}); the Cython backend is built SERIAL (one thread). "
                    "Install OpenMP support (e.g. libgomp, or libomp on macOS) and rebuild "
                    "to use several cores."
                )
        if openmp:
            base += omp_c
        return base, (omp_l if openmp else []), openmp, variants, reassoc, debug, msvc

    def build_extensions(self):
        from Cython import __version__ as cython_version
        from Cython.Build import cythonize

        base, link, openmp, variants, reassoc, debug, msvc = self._configure()
        print(
            f"fastml: OpenMP {'on' if openmp else 'OFF'}; CPU variants {', '.join(variants)}; "
            f"flags {' '.join(base)}{' (debug)' if debug else ''}"
        )

        exts = []
        os.makedirs(VARIANT_DIR, exist_ok=True)
        for ext in self.extensions:
            variant = getattr(ext, "fastml_variant", None)
            if variant is not None:
                if variant not in variants:
                    continue
                # One copy of the .pyx per variant, named like its module, so
                # that Cython generates a separate C file with its own PyInit_.
                src = os.path.join(SRC_DIR, f"{ext.fastml_module}.pyx")
                dst = os.path.join(VARIANT_DIR, f"_{ext.fastml_module}_{variant}.pyx")
                with open(src, "rb") as fh:
                    text = fh.read()
                if not os.path.exists(dst) or open(dst, "rb").read() != text:
                    with open(dst, "wb") as fh:
                        fh.write(text)
                ext.sources = [dst]
            args = list(base)
            if variant is not None:
                args += variants[variant]
            if getattr(ext, "fastml_module", None) in REASSOCIATE:
                args += reassoc
            ext.extra_compile_args = args
            ext.extra_link_args = list(link)
            ext.include_dirs = [SRC_DIR]
            if not msvc:
                flags = " ".join(args).replace("\\", "\\\\").replace('"', '\\"')
                ext.define_macros = [
                    ("FASTML_COMPILE_ARGS", f'"{flags}"'),
                    ("FASTML_CYTHON_VERSION", f'"{cython_version}"'),
                ]
            exts.append(ext)

        directives = dict(BASE_DIRECTIVES)
        if debug:
            directives.update(DEBUG_DIRECTIVES)
        # Rebuild everything when the flags or directives change (timestamps
        # alone would not notice a switch to or from a debug/native build).
        stamp = os.path.join(CYTHON_C_DIR, "fastml-build-config.json")
        config = json.dumps(
            {
                "directives": directives,
                "args": base,
                "variants": variants,
                "cython": cython_version,
            },
            sort_keys=True,
        )
        previous = None
        if os.path.exists(stamp):
            with open(stamp) as fh:
                previous = fh.read()
        if previous != config:
            self.force = True
        cythonized = cythonize(
            exts,
            compiler_directives=directives,
            include_path=[SRC_DIR],
            build_dir=CYTHON_C_DIR,
            force=self.force,
            quiet=True,
            nthreads=0,
        )
        # cythonize returns copies; keep setuptools' Extension objects (they
        # carry build_ext state) and give them the generated C sources.
        c_sources = {e.name: e.sources for e in cythonized}
        for ext in exts:
            ext.sources = c_sources[ext.name]
        self.extensions = exts
        super().build_extensions()
        os.makedirs(CYTHON_C_DIR, exist_ok=True)
        with open(stamp, "w") as fh:
            fh.write(config)

    def get_source_files(self):
        # For sdists: the real sources, not the per-variant copies.
        files = sorted(glob.glob(os.path.join(SRC_DIR, "*.pyx")))
        files += sorted(glob.glob(os.path.join(SRC_DIR, "*.pxd")))
        files += sorted(glob.glob(os.path.join(SRC_DIR, "*.h")))
        return files


if platform.python_implementation() != "CPython":  # pragma: no cover
    _warn("fastml's Cython backend is built for CPython only.")

setup(ext_modules=_extensions(), cmdclass={"build_ext": BuildExt})
