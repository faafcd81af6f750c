"""Helpers for tests and benchmarks: local servers and fixtures' building blocks."""
