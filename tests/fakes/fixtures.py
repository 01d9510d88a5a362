"""Pytest fixtures that start the fakes of this package (registered in tests/conftest.py)."""
