"""``python -m backdoor_curves.plots RESULTS_DIR``: draw the figures of a results directory."""

import sys

from backdoor_curves.plots.cli import main

if __name__ == "__main__":
    sys.exit(main())
