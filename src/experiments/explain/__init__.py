"""Explanations of clean and poisoned models (``src/test/explain_*.py``): command line, cells."""
