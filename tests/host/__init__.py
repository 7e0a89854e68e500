"""Tests that run inside a ComfyUI host (see conftest.py). A package, so its conftest does not shadow tests/conftest.py."""
