# cython: language_level=3
"""Declarations and ``cdef inline`` helpers shared by the fastml .pyx modules.

Only ctypedefs, extern declarations and inline functions live here: nothing
in this file becomes a module of its own. Kernels use Cython's fused
``cython.floating`` type (float32 and float64 from one source) with
``const floating[:, ::1]`` memoryviews.
"""

from libc.stdint cimport int32_t, int64_t, uint64_t
from libc.string cimport memcpy

cdef extern from "_fastml_compat.h" nogil:
    """"""
    const int FASTML_HAVE_OPENMP
    const char* FASTML_COMPILE_ARGS
    const char* FASTML_CYTHON_VERSION
    int fastml_omp_max_threads()
    int fastml_popcount64(uint64_t x)

ctypedef Py_ssize_t intp


cdef inline int clamp_threads(Py_ssize_t requested, Py_ssize_t n_work) noexcept nogil:
    """Threads to use: at least 1, at most ``n_work`` (no idle threads)."""
    if requested > n_work:
        requested = n_work
    if requested < 1:
        requested = 1
    return <int>requested


cdef inline int64_t bits64(double x) noexcept nogil:
    """The IEEE-754 bit pattern of ``x`` (compiles to a register move)."""
    cdef int64_t u
    memcpy(&u, &x, 8)
    return u


cdef inline double from_bits64(int64_t u) noexcept nogil:
    cdef double x
    memcpy(&x, &u, 8)
    return x


cdef inline int32_t bits32(float x) noexcept nogil:
    cdef int32_t u
    memcpy(&u, &x, 4)
    return u


cdef inline float from_bits32(int32_t u) noexcept nogil:
    cdef float x
    memcpy(&x, &u, 4)
    return x
