"""Binary (class-pair) experiments: the learning-slope sweep."""
