"""Benchmarks of the orchestration overhead and the load one machine holds (`make bench`)."""
