"""Compiled Cython extension modules, built from ``src_cython/*.pyx`` by setup.py.

CPU dispatch (DESIGN.md, "Cython conventions"): a hot kernel module ``X`` is
compiled once per CPU *variant* into ``fastml._cython._X_<variant>``:

* ``baseline``: generic x86-64 (SSE2) or whatever the compiler targets by
  default (ARM, ...); always built;
* ``v3``: ``-march=x86-64-v3`` (AVX2, FMA, BMI2, F16C); built only when the
  compiler targets x86-64;
* ``v4``: ``-march=x86-64-v4`` (AVX-512 F/CD/BW/DQ/VL; 256-bit vectors
  preferred, which measured as fast or faster on Zen4); x86-64 only.

``fastml/_cython/X.py`` is a one-line shim, ``load_variant(__name__,
globals())``, that imports the best variant this CPU can run and re-exports
its public names, so ``fastml._cython.X`` is what the registry imports.
The environment variable ``FASTML_CPU_VARIANT=baseline|v3|v4`` forces a variant
(read when the module is first imported; for tests and benchmarks).
"""

from __future__ import annotations

import importlib
import importlib.util
import os

__all__ = ["VARIANTS", "built_variants", "cpu_variant", "load_variant", "load_variant_module"]

#: Variants, best first, with the NumPy CPU features each one needs.
VARIANTS = {
    "v4": (
        "AVX512F",
        "AVX512CD",
        "AVX512BW",
        "AVX512DQ",
        "AVX512VL",
        "AVX",
        "AVX2",
        "FMA3",
        "F16C",
    ),
    "v3": ("AVX", "AVX2", "FMA3", "F16C"),
    "baseline": (),
}


def _cpu_features():
    """NumPy's runtime CPU feature table (name -> bool), or {} if unavailable."""
    for modname in ("numpy._core._multiarray_umath", "numpy.core._multiarray_umath"):
        try:
            mod = importlib.import_module(modname)
        except ImportError:
            continue
        features = getattr(mod, "__cpu_features__", None)
        if isinstance(features, dict):
            return features
    return {}


def cpu_supports(variant):
    """True if this CPU (and OS) can run code built for ``variant``."""
    needs = VARIANTS[variant]
    if not needs:
        return True
    features = _cpu_features()
    return all(features.get(f, False) for f in needs)


def _module_name(kernel, variant):
    return f"{__name__}._{kernel}_{variant}"


def built_variants(kernel="distance"):
    """The variants of ``kernel`` present in this installation, best first."""
    found = []
    for variant in VARIANTS:
        if importlib.util.find_spec(_module_name(kernel, variant)) is not None:
            found.append(variant)
    return found


def _forced_variant():
    value = os.environ.get("FASTML_CPU_VARIANT", "").strip().lower()
    if not value:
        return None
    if value not in VARIANTS:
        raise ValueError(f"FASTML_CPU_VARIANT must be one of {', '.join(VARIANTS)}; got {value!r}")
    return value


def cpu_variant(kernel="distance"):
    """The variant of ``kernel`` that :func:`load_variant` picks on this machine.

    ``FASTML_CPU_VARIANT`` if set, else the best built variant the CPU supports.
    """
    forced = _forced_variant()
    if forced is not None:
        return forced
    for variant in built_variants(kernel):
        if cpu_supports(variant):
            return variant
    return "baseline"


def load_variant_module(kernel, variant=None):
    """Import and return the compiled module of ``kernel`` for ``variant``.

    Raises
    ------
    ImportError
        If that variant was not built or this CPU cannot run it.
    """
    variant = cpu_variant(kernel) if variant is None else variant
    if variant not in VARIANTS:
        raise ValueError(f"unknown CPU variant {variant!r}; expected one of {', '.join(VARIANTS)}")
    if not cpu_supports(variant):
        raise ImportError(
            f"fastml: the {variant!r} build of {kernel!r} needs CPU features "
            f"{', '.join(VARIANTS[variant])}, which this CPU lacks; unset FASTML_CPU_VARIANT"
        )
    return importlib.import_module(_module_name(kernel, variant))


def load_variant(module_name, namespace):
    """Fill ``namespace`` (a shim module's globals) from the chosen variant.

    Parameters
    ----------
    module_name : str
        The shim's ``__name__``, e.g. ``"fastml._cython.distance"``.
    namespace : dict
        The shim's ``globals()``; receives the variant module's public names
        (its ``__all__``), ``__doc__`` and ``VARIANT``.
    """
    kernel = module_name.rsplit(".", 1)[1]
    mod = load_variant_module(kernel)
    names = getattr(mod, "__all__", [n for n in vars(mod) if not n.startswith("_")])
    namespace.update({name: getattr(mod, name) for name in names})
    namespace["__all__"] = list(names)
    namespace["__doc__"] = mod.__doc__
    namespace["VARIANT"] = mod.__name__.rsplit("_", 1)[1]
    namespace["_impl"] = mod
