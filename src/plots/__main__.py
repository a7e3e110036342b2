"""``python -m backdoor_curves.plots RESULTS_DIR``: draw the figures of a results directory."""

from backdoor_curves.plots.cli import main

if __name__ == "__main__":
    from backdoor_curves.utilities.commands import exit_process

    exit_process(main())
