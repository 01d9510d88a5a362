"""Filled in by the work on this area during this session."""

urlpatterns: list = []
