"""Tests that need ComfyUI's modules in-process; the contract is in conftest.py. A package, so that its
conftest stays apart from tests/conftest.py, which test modules import as ``conftest``."""
