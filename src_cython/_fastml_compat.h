/* Small C helpers for the Cython sources (see _common.pxd).
 *
 * OpenMP calls are guarded so every module also builds without OpenMP
 * (Cython's prange then degrades to a serial loop).  FASTML_COMPILE_ARGS and
 * FASTML_CYTHON_VERSION are defined by setup.py (-DNAME="...") so that a
 * module can report how it was built.
 */
#ifndef FASTML_COMPAT_H
#define FASTML_COMPAT_H

#ifdef _OPENMP
#include <omp.h>
#define FASTML_HAVE_OPENMP 1
static inline int fastml_omp_max_threads(void) { return omp_get_max_threads(); }
#else
#define FASTML_HAVE_OPENMP 0
static inline int fastml_omp_max_threads(void) { return 1; }
#endif

#include <stdint.h>
#if defined(__GNUC__) || defined(__clang__)
/* One instruction where the target has POPCNT (x86-64-v2 and up), else libgcc's. */
static inline int fastml_popcount64(uint64_t x) { return __builtin_popcountll(x); }
#else
static inline int fastml_popcount64(uint64_t x) {
    x = x - ((x >> 1) & 0x5555555555555555ULL);
    x = (x & 0x3333333333333333ULL) + ((x >> 2) & 0x3333333333333333ULL);
    x = (x + (x >> 4)) & 0x0F0F0F0F0F0F0F0FULL;
    return (int)((x * 0x0101010101010101ULL) >> 56);
}
#endif

#ifndef FASTML_CYTHON_VERSION
#define FASTML_CYTHON_VERSION "unknown"
#endif

#ifndef FASTML_COMPILE_ARGS
#define FASTML_COMPILE_ARGS ""
#endif

#endif
