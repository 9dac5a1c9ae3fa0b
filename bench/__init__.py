"""Benchmarks (run as scripts, e.g. ``python bench/intake_throughput.py``); not part of the product."""
