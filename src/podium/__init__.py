"""Podium: MLPerf-style benchmarking — a pure-Python LoadGen equivalent and the harnesses built on it."""

__version__ = "0.1.0"
