"""Package placeholder docstring."""
