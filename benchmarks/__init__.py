"""Benchmarks: `make bench` (python -m benchmarks.run). See benchmarks/README.md."""
