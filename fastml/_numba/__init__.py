"""Numba kernels (``@jit`` from ``_jit.py``), compiled lazily and cached on disk.

Importing this package imports numba; ``import fastml`` does not.
"""
