"""Benchmarks: each reports porthub against a baseline measured in the same run."""
