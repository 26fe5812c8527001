"""Benchmarks: each times a raw baseline and the csops case in the same run,
alternating over rounds, and reports the figures and their ratio csops/raw.

Not part of the product: nothing in the project imports `bench`.
Run with `make bench` (or `python -m bench --help`).
"""
