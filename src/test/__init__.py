"""Explanation scripts (``explain_*.py``); the folder name follows the original project."""
