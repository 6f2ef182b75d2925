"""Benchmarks, run as scripts (``python bench/<name>.py``); importable so tests can reuse references."""
