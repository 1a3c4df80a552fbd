"""Pure-Python kernels: lists and loops only. The oracle and the baseline."""
