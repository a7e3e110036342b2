"""``python -m backdoor_curves``: the ``backdoor-curves`` command."""

from backdoor_curves.experiments.cli import main

if __name__ == "__main__":
    from backdoor_curves.utilities.commands import exit_process

    exit_process(main())
