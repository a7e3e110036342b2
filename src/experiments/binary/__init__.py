"""Binary (class-pair) experiments: the learning-slope sweep (command line, run, cell)."""
