"""The package's structure is checked, not described: layers, cycles and the one command."""

from __future__ import annotations

import ast
import functools
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from fresh_python import run_without_torch

from backdoor_curves.experiments import cli

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.processes
def test_import_contracts_hold() -> None:
    """``lint-imports`` (the contracts in pyproject.toml) reports every contract kept."""
    lint_imports = shutil.which("lint-imports") or str(
        Path(sys.executable).with_name("lint-imports")
    )
    completed = subprocess.run(
        [lint_imports, "--no-cache"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-2000:]
    assert "0 broken" in completed.stdout


def test_every_command_names_an_entry_point() -> None:
    for name, command in cli.COMMANDS.items():
        assert callable(command.load()), name


def test_the_command_lists_its_subcommands(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in cli.COMMANDS)


def test_an_unknown_command_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["slopes"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown command 'slopes'" in err[0] and "slope" in err[0]


@pytest.mark.processes
def test_python_dash_m_runs_the_command() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "backdoor_curves", "slope", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert "--dataset" in completed.stdout


# ---------------------------------------------------------------- one job per module

SRC = ROOT / "src"

COMMAND_LINE_MODULES = frozenset(
    {
        # command-line plumbing: the one-line-error parser, the shared flags
        "utilities/commands.py",
        "experiments/flags.py",
        # the commands (each a build_parser() and a main(argv=None) -> int); the slope's keeps
        # the name the shell drivers and the original project use
        "experiments/binary/slope.py",
        "experiments/binary/safe_rule.py",
        "experiments/curves/cli.py",
        "experiments/explain/cli.py",
        "experiments/nn/backdoor_slope.py",
        "experiments/reference.py",
        "experiments/report/cli.py",
        "plots/cli.py",
        # the F8 figure's own command (python -m backdoor_curves.plots.network)
        "plots/network.py",
    }
)
"""The only modules that may import argparse or see an ``argparse.Namespace``."""

NOT_YET_SPLIT = {
    "experiments/nn/backdoor_slope.py": "the nn driver is split by its own change (issue 18)",
}
"""Command-line modules that still hold more than the command line, and why."""

LONG_MODULES: dict[str, str] = {}
"""Modules over the length limit, and why (``experiments/nn/`` is split by its own change)."""

GRID_DRIVER_RUNS = ("experiments/binary/slope_run.py", "experiments/curves/run.py",
                    "experiments/explain/run.py")  # fmt: skip
"""The run modules of the grid drivers, which share one skeleton (``experiments/driver.py``)."""


@functools.cache
def source_modules() -> dict[str, ast.Module]:
    """Every module of the package, parsed once, by its path under ``src/`` (read only)."""
    return {
        path.relative_to(SRC).as_posix(): ast.parse(path.read_text(encoding="utf-8"))
        for path in sorted(SRC.rglob("*.py"))
    }


def imports_argparse(tree: ast.Module) -> bool:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import) and any(a.name == "argparse" for a in node.names):
            return True
        if isinstance(node, ast.ImportFrom) and node.module == "argparse":
            return True
    return False


def namespace_parameters(tree: ast.Module) -> list[str]:
    """Functions with a parameter annotated ``argparse.Namespace`` (or ``Namespace``)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            arguments = node.args
            every = [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]
            every += [a for a in (arguments.vararg, arguments.kwarg) if a is not None]
            for argument in every:
                if argument.annotation is not None and "Namespace" in ast.unparse(
                    argument.annotation
                ):
                    found.append(f"{node.name}({argument.arg})")
    return found


def test_argparse_only_in_command_line_modules() -> None:
    modules = source_modules()
    assert set(modules) >= COMMAND_LINE_MODULES, COMMAND_LINE_MODULES - set(modules)
    importing = {name for name, tree in modules.items() if imports_argparse(tree)}
    assert importing <= COMMAND_LINE_MODULES, sorted(importing - COMMAND_LINE_MODULES)


def test_no_namespace_below_the_command_line() -> None:
    """Below the command line every function takes typed settings, never the namespace."""
    leaks = {
        name: namespace_parameters(tree)
        for name, tree in source_modules().items()
        if name not in COMMAND_LINE_MODULES and namespace_parameters(tree)
    }
    assert not leaks, leaks


def test_command_line_modules_define_no_types() -> None:
    """Settings, tasks, results and workers live below the command line, not in it.

    A command-line module parses flags and hands typed settings to the module below; the only
    class it may define is an ``ArgumentParser``.
    """
    holding = {}
    for name in sorted(COMMAND_LINE_MODULES - set(NOT_YET_SPLIT)):
        tree = source_modules()[name]
        classes = [
            node.name
            for node in tree.body
            if isinstance(node, ast.ClassDef)
            and not any("ArgumentParser" in ast.unparse(base) for base in node.bases)
        ]
        if classes:
            holding[name] = classes
    assert not holding, holding


def test_no_module_over_450_lines() -> None:
    too_long = {
        name: length
        for path in sorted(SRC.rglob("*.py"))
        if (name := path.relative_to(SRC).as_posix()) not in LONG_MODULES
        and not name.startswith("experiments/nn/")
        and (length := len(path.read_text(encoding="utf-8").splitlines())) > 450
    }
    assert not too_long, too_long


def imported_names(tree: ast.Module) -> dict[str, set[str]]:
    """The names each ``from backdoor_curves... import`` of a module takes, by module."""
    names: dict[str, set[str]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module is not None:
            names.setdefault(node.module, set()).update(alias.name for alias in node.names)
    return names


def test_grid_drivers_share_one_skeleton() -> None:
    """The slope, curves and explain runs record through ``driver.recorded_runs``, not alone."""
    modules = source_modules()
    for name in GRID_DRIVER_RUNS:
        names = imported_names(modules[name])
        assert "recorded_runs" in names.get("backdoor_curves.experiments.driver", set()), name
        assert "record_runs" not in names.get("backdoor_curves.experiments.recording", set())
        assert "backdoor_curves.utilities.backends" not in names, name


@pytest.mark.processes
def test_importing_attacks_and_the_pixel_drivers_imports_no_torch() -> None:
    """Torch code lives in classifiers/nn; the explanation maths and MNIST drivers need none."""
    run_without_torch(
        "import backdoor_curves.attacks, backdoor_curves.attacks.explanations",
        "import backdoor_curves.analyses",
        "from backdoor_curves.experiments.binary import slope",
        "from backdoor_curves.experiments.curves import cli",
        "from backdoor_curves.experiments.explain import cli",
    )


@pytest.mark.processes
def test_the_network_command_checks_its_flags_before_importing_torch() -> None:
    """``backdoor-curves nn --help`` and every flag error come before torch is imported."""
    done = run_without_torch(
        "from backdoor_curves.experiments.nn import backdoor_slope",
        "assert backdoor_slope.main(['--lr', '-1']) == 2",
        "assert backdoor_slope.main(['--betas', '0.5']) == 2",
        then="backdoor_slope.build_parser().parse_args(['--help'])",
    )
    assert "--poison-weighting" in done.stdout
    assert "learning rate must be > 0" in done.stderr and "must include 0" in done.stderr


SPEC_CITATION = re.compile(r"\bSPEC(?: section| §)? ?\d")


def test_code_cites_the_docs_not_the_specification() -> None:
    """Comments and docstrings point to ``docs/`` pages, which users have, not to SPEC sections."""
    tracked = subprocess.run(
        ["git", "ls-files", "*.py", "*.sh", "*.toml", "*.cfg"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    citing = [
        f"{name}:{number}"
        for name in tracked
        for number, line in enumerate((ROOT / name).read_text(encoding="utf-8").splitlines(), 1)
        if SPEC_CITATION.search(line)
    ]
    assert not citing, citing
