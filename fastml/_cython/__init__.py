"""Compiled Cython extension modules, built from ``src_cython/*.pyx`` by setup.py."""
