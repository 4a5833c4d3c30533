"""Tests in a real browser (Chromium via Playwright).

A package, so its conftest.py does not shadow tests/conftest.py as the module `conftest`.
"""
