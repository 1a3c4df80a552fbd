"""Vectorised NumPy kernels."""
