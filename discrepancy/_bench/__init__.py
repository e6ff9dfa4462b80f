"""Benchmarks that ship with the package, run by `discrepancy bench`.

Modules here import TensorFlow only inside the functions that train or
score, so building the command line's parser stays fast.
"""
