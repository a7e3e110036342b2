"""Explanations (``src/test/explain_*.py``): command line, run, F7 examples, cell, gradient maps."""
