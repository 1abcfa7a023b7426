"""Benchmarks: side-by-side ratios against baselines measured in the same run."""
