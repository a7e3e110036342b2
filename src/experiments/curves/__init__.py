"""Learning curves and parameter deviation (``incremental_curves.py``): command line, run, cells."""
