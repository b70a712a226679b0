"""Shared helpers for tests."""
