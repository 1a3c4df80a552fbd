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

#ifndef FASTML_CYTHON_VERSION
#define FASTML_CYTHON_VERSION "unknown"
#endif

#ifndef FASTML_COMPILE_ARGS
#define FASTML_COMPILE_ARGS ""
#endif

#endif
