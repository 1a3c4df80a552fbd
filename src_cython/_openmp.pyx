"""Build facts of fastml's Cython extension (OpenMP, flags, CPU variant).

``fastml._registry`` imports this module to decide whether the Cython backend
is available; :func:`fastml.show_config` reports :func:`build_info`.
"""

from _common cimport (
    FASTML_COMPILE_ARGS,
    FASTML_CYTHON_VERSION,
    FASTML_HAVE_OPENMP,
    fastml_omp_max_threads,
)

__all__ = ["build_info", "max_threads", "openmp_enabled"]


def openmp_enabled():
    """True if the extension modules were compiled with OpenMP."""
    return bool(FASTML_HAVE_OPENMP)


def max_threads():
    """OpenMP's default thread count (``omp_get_max_threads()``), 1 without OpenMP."""
    return fastml_omp_max_threads()


def build_info():
    """Return a dict describing how the Cython backend was built.

    Returns
    -------
    dict
        ``openmp`` (bool), ``cython_version`` (str), ``variant`` (the CPU
        variant of the hot modules chosen for this machine, e.g. ``"v3"``),
        ``variants`` (the variants that were built) and ``compile_args``
        (list of str, the C flags of the chosen variant).
    """
    from fastml import _cython as pkg

    variant = pkg.cpu_variant()
    args = FASTML_COMPILE_ARGS.decode()
    try:
        args = pkg.load_variant_module("distance", variant)._compile_args
    except ImportError:
        pass
    return {
        "openmp": bool(FASTML_HAVE_OPENMP),
        "cython_version": FASTML_CYTHON_VERSION.decode(),
        "variant": variant,
        "variants": pkg.built_variants("distance"),
        "compile_args": args.split(),
    }
