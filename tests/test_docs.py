"""The README and docs/ stay true where that is cheap to check.

- every relative link (and its ``#anchor``) in README.md, docs/*.md, benchmarks/README.md and
  the READMEs under results/ points to an existing file (and heading);
- every ``backdoor-curves COMMAND`` written in code is a command of ``experiments.cli``;
- every flag the docs attribute to a driver is in that driver's ``--help``. A flag is
  attributed when it follows a driver's invocation in code (a fenced block or an inline code
  span: ``./run_mnist.sh all --force``, ``backdoor-curves slope --pair 7-1``), or when it
  heads a row of a table preceded by ``<!-- flags: COMMAND ... -->`` (the flag tables of
  docs/drivers.md); flags in prose are not attributed to anything and are not checked;
- every docs page is listed in docs/index.md; the README stays short.

The help texts of the commands that import torch (``nn``, ``explain``) come from one
subprocess, so that check runs with the end-to-end tests, not in the unit loop.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from backdoor_curves.experiments import cli
from backdoor_curves.plots.captions import FIGURE_FAMILIES

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOC_PAGES = sorted((ROOT / "docs").glob("*.md"))
DOCS = [README, *DOC_PAGES]
LINKED = [*DOCS, ROOT / "benchmarks" / "README.md", *sorted((ROOT / "results").rglob("README.md"))]
README_MAX_LINES = 220

# Command ids the docs may attribute flags to, and the argv of ``backdoor-curves`` for each.
COMMAND_ARGV: dict[str, list[str]] = {
    "slope": ["slope"],
    "curves": ["curves"],
    "plots": ["plots"],
    "triggers": ["triggers"],
    "reference": ["reference"],
    "reference-compare": ["reference", "compare"],
    "reference-update": ["reference", "update"],
    "report": ["report"],
    "nn": ["nn"],
    "explain-mnist": ["explain", "mnist"],
    "explain-cifar10": ["explain", "cifar10"],
    "explain-imagenette": ["explain", "imagenette"],
}
TORCH_COMMANDS = frozenset({"nn", "explain-mnist", "explain-cifar10", "explain-imagenette"})
SHELL_HELP: dict[str, list[str]] = {"run_tests": ["bash", "run_tests.sh", "--help"]}
EXPLAIN_DATASETS = ("mnist", "cifar10", "imagenette")

# Python modules and script paths that are a command (``python -m MODULE`` / ``python PATH``).
MODULE_COMMANDS = {
    "backdoor_curves.experiments.binary.slope": "slope",
    "backdoor_curves.experiments.curves.cli": "curves",
    "backdoor_curves.experiments.nn.backdoor_slope": "nn",
    "backdoor_curves.plots": "plots",
    "backdoor_curves.plots.cli": "plots",
    "backdoor_curves.experiments.trigger_examples": "triggers",
    "backdoor_curves.experiments.report.cli": "report",
    **{f"backdoor_curves.test.explain_{name}": f"explain-{name}" for name in EXPLAIN_DATASETS},
}
SCRIPT_COMMANDS = {
    "incremental_curves.py": "curves",
    "src/experiments/nn/backdoor_slope.py": "nn",
    "run_tests.sh": "run_tests",
    **{f"src/test/explain_{name}.py": f"explain-{name}" for name in EXPLAIN_DATASETS},
}
SLOPE_SCRIPTS = ("run_mnist.sh", "run_cifar.sh", "run_imagenette.sh")

FLAG = re.compile(r"^(--[A-Za-z][\w-]*|-[A-Za-z][A-Za-z_]+)$")  # -m, -n: pytest's, not checked
ALWAYS_VALID = frozenset({"-h", "--help"})
COMMAND_END = frozenset({"&&", "||", ";", "|"})
FENCE = re.compile(r"^\s*(```|~~~)")
INLINE_CODE = re.compile(r"`([^`]+)`")
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
FLAGS_MARKER = re.compile(r"^\s*<!--\s*flags:\s*(.*?)\s*-->\s*$")


# ---------------------------------------------------------------- markdown


def split_markdown(text: str) -> tuple[list[str], list[str]]:
    """Return (code lines of fenced blocks, prose lines) of a markdown text.

    Fenced lines ending in a backslash are joined with the next one, as the shell does.
    """
    code: list[str] = []
    prose: list[str] = []
    in_fence = False
    pending = ""
    for line in text.splitlines():
        if FENCE.match(line):
            in_fence = not in_fence
            continue
        if not in_fence:
            prose.append(line)
        elif line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
        else:
            code.append(pending + line)
            pending = ""
    return code, prose


def code_segments(text: str) -> list[str]:
    """Every fenced code line and every inline code span of a markdown text."""
    code, prose = split_markdown(text)
    return code + [span for line in prose for span in INLINE_CODE.findall(line)]


def heading_anchors(text: str) -> set[str]:
    """GitHub's anchors of the headings of a markdown text (duplicates get ``-1``, ``-2``)."""
    anchors: set[str] = set()
    _, prose = split_markdown(text)
    for line in prose:
        match = HEADING.match(line)
        if not match:
            continue
        title = match.group(2).replace("`", "").strip().lower()
        slug = re.sub(r"[^\w\- ]", "", title).replace(" ", "-")
        candidate, count = slug, 0
        while candidate in anchors:
            count += 1
            candidate = f"{slug}-{count}"
        anchors.add(candidate)
    return anchors


def link_problems(path: Path, text: str) -> list[str]:
    """Relative links of ``text`` (a file at ``path``) whose file or heading does not exist."""
    problems = []
    _, prose = split_markdown(text)
    for line in prose:
        for target in LINK.findall(INLINE_CODE.sub("", line)):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto:
                continue
            file_part, _, anchor = target.partition("#")
            linked = (path.parent / file_part).resolve() if file_part else path
            if not linked.exists():
                problems.append(f"{path.name}: link to missing {target}")
            elif (
                anchor
                and linked.suffix == ".md"
                and anchor not in heading_anchors(linked.read_text(encoding="utf-8"))
            ):
                problems.append(f"{path.name}: link to missing heading {target}")
    return problems


# ---------------------------------------------------------------- who a flag belongs to


def _flag_of(token: str) -> str | None:
    """The flag a token spells (``--pair=7-1,`` -> ``--pair``), or None."""
    name = token.strip("[](){},.;:'\"").split("=", 1)[0]
    return name if FLAG.match(name) else None


def _command_at(tokens: list[str], index: int) -> tuple[str | None, int]:
    """Whether an invocation starts at ``tokens[index]``.

    Returns ``(command id, tokens it takes)``; the id is ``""`` for an invocation of something
    these checks do not know (another module, a benchmark script) and None when no invocation
    starts here.
    """
    token = tokens[index]
    following = tokens[index + 1] if index + 1 < len(tokens) else ""
    if token.endswith(SLOPE_SCRIPTS):
        command = "nn" if following == "imagenette_full" else "slope"
        return command, 1 if following.startswith("-") or not following else 2
    for script, command in SCRIPT_COMMANDS.items():
        if token == script or token.endswith("/" + script):
            return command, 1
    if token == "backdoor-curves":
        command, used = _subcommand(tokens[index + 1 :])
        return command, 1 + used
    if token == "-m":
        if following == "backdoor_curves":
            command, used = _subcommand(tokens[index + 2 :])
            return command, 2 + used
        if following == "backdoor_curves.experiments.reference":
            command, used = _subcommand(["reference", *tokens[index + 2 :]])
            return command, 1 + used
        return MODULE_COMMANDS.get(following, ""), 2
    if token in ("python", "python3") or token.endswith((".py", ".sh")):
        return "", 1
    return None, 1


def _subcommand(rest: list[str]) -> tuple[str, int]:
    """The command id of ``backdoor-curves REST...`` and how many tokens of ``rest`` it takes."""
    name = rest[0] if rest else ""
    after = rest[1] if len(rest) > 1 else ""
    if name == "explain":
        if after in EXPLAIN_DATASETS:
            return f"explain-{after}", 2
        return "explain-mnist", 1  # no dataset named: check against the flags every one has
    if name == "reference" and after in ("compare", "update"):
        return f"reference-{after}", 2
    return (name, 1) if name in COMMAND_ARGV else ("", 1)


def invocation_flags(segment: str) -> Iterator[tuple[str, str]]:
    """``(command id, flag)`` for every flag that follows a command's invocation in code."""
    tokens = segment.split()
    command = ""
    index = 0
    while index < len(tokens):
        token = tokens[index]
        if token.startswith("#"):  # a shell comment
            return
        if token in COMMAND_END:
            command, index = "", index + 1
            continue
        found, used = _command_at(tokens, index)
        if found is not None:
            command, index = found, index + used
            continue
        flag = _flag_of(token)
        if command and flag is not None:
            yield command, flag
        index += 1


def table_flags(text: str) -> Iterator[tuple[str, str]]:
    """``(command id, flag)`` for the first-column flags of tables after a flags marker."""
    commands: list[str] = []
    in_table = False
    for line in text.splitlines():
        marker = FLAGS_MARKER.match(line)
        if marker:
            commands = marker.group(1).split()
            for command in commands:
                if command not in COMMAND_ARGV and command not in SHELL_HELP:
                    yield command, "<unknown command in flags marker>"
            in_table = False
            continue
        if not commands:
            continue
        if not line.lstrip().startswith("|"):
            if in_table:
                commands, in_table = [], False
            elif line.strip():
                yield commands[0], "<flags marker not followed by a table>"
                commands = []
            continue
        in_table = True
        first_cell = line.strip().strip("|").split("|")[0]
        for span in INLINE_CODE.findall(first_cell):
            if not span.startswith("-"):
                continue
            for token in re.split(r"[\s/]+", span):
                flag = _flag_of(token)
                if flag is not None:
                    for command in commands:
                        yield command, flag


def named_commands(text: str) -> set[str]:
    """The ``COMMAND`` of every ``backdoor-curves COMMAND`` (or ``-m backdoor_curves``) in code."""
    return {
        match.group(1)
        for segment in code_segments(text)
        for match in re.finditer(
            r"(?:^|[\s(])(?:backdoor-curves|-m backdoor_curves)\s+([a-z][\w-]*)", segment
        )
    }


def attributed_flags(text: str) -> set[tuple[str, str]]:
    """Every ``(command id, flag)`` a markdown text attributes."""
    pairs = {pair for segment in code_segments(text) for pair in invocation_flags(segment)}
    return pairs | set(table_flags(text))


def flag_problems(attributed: set[tuple[str, str]], helps: dict[str, str]) -> list[str]:
    """The attributed flags that the command's help does not list."""
    problems = []
    for command, flag in sorted(attributed):
        if flag in ALWAYS_VALID:
            continue
        if command not in helps:
            problems.append(f"{command}: {flag} (no such command)")
        elif not re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", helps[command]):
            problems.append(f"{command}: {flag} is not in its --help")
    return problems


# ---------------------------------------------------------------- help texts


def help_text(argv: list[str]) -> str:
    """What ``backdoor-curves ARGV --help`` prints."""
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer), contextlib.suppress(SystemExit):
        cli.COMMANDS[argv[0]].load()([*argv[1:], "--help"])
    return buffer.getvalue()


_HELP_SCRIPT = """
import contextlib, io, json, sys
from backdoor_curves.experiments import cli
from backdoor_curves.plots.captions import FIGURE_FAMILIES
texts = {}
for key, argv in json.loads(sys.argv[1]).items():
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer), contextlib.suppress(SystemExit):
        cli.COMMANDS[argv[0]].load()([*argv[1:], "--help"])
    texts[key] = buffer.getvalue()
print(json.dumps(texts))
"""


@pytest.fixture(scope="module")
def docs_flags() -> set[tuple[str, str]]:
    return {pair for path in DOCS for pair in attributed_flags(path.read_text(encoding="utf-8"))}


@pytest.fixture(scope="module")
def light_helps() -> dict[str, str]:
    helps = {
        key: help_text(argv) for key, argv in COMMAND_ARGV.items() if key not in TORCH_COMMANDS
    }
    for key, argv in SHELL_HELP.items():
        helps[key] = subprocess.run(
            argv, cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout
    return helps


# ---------------------------------------------------------------- tests


def test_readme_reads_in_five_minutes() -> None:
    n_lines = len(README.read_text(encoding="utf-8").splitlines())
    assert n_lines < README_MAX_LINES, f"README.md has {n_lines} lines; move detail to docs/"


@pytest.mark.parametrize("path", LINKED, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_point_to_existing_files_and_headings(path: Path) -> None:
    assert link_problems(path, path.read_text(encoding="utf-8")) == []


def test_every_docs_page_is_listed_in_the_index() -> None:
    index = (ROOT / "docs" / "index.md").read_text(encoding="utf-8")
    listed = {Path(target.partition("#")[0]).name for target in LINK.findall(index)}
    assert {page.name for page in DOC_PAGES} - {"index.md"} <= listed


def test_every_backdoor_curves_command_in_the_docs_exists() -> None:
    named = {name for path in DOCS for name in named_commands(path.read_text(encoding="utf-8"))}
    assert named, "the docs name no backdoor-curves command"
    assert sorted(named - set(cli.COMMANDS)) == []


def test_flags_the_docs_give_the_torch_free_commands_are_in_their_help(
    docs_flags: set[tuple[str, str]], light_helps: dict[str, str]
) -> None:
    checked = {(command, flag) for command, flag in docs_flags if command not in TORCH_COMMANDS}
    assert {command for command, _ in checked} >= {"slope", "curves", "plots", "run_tests"}
    assert flag_problems(checked, light_helps) == []


@pytest.mark.e2e
def test_flags_the_docs_give_the_network_commands_are_in_their_help(
    docs_flags: set[tuple[str, str]],
) -> None:
    argv = {key: COMMAND_ARGV[key] for key in sorted(TORCH_COMMANDS)}
    completed = subprocess.run(
        [sys.executable, "-c", _HELP_SCRIPT, json.dumps(argv)],
        capture_output=True,
        text=True,
        check=True,
    )
    helps = json.loads(completed.stdout)
    checked = {(command, flag) for command, flag in docs_flags if command in TORCH_COMMANDS}
    assert {command for command, _ in checked} >= {"nn", "explain-mnist", "explain-cifar10"}
    assert flag_problems(checked, helps) == []


def test_the_checks_catch_a_wrong_flag_a_wrong_command_and_a_broken_link(tmp_path: Path) -> None:
    text = "\n".join(
        [
            "See [the method](missing.md) and [drivers](#no-such-heading).",
            "",
            "```bash",
            "./run_mnist.sh all --n-jobs 2 --no-such-flag  # comment --ignored",
            "python incremental_curves.py --pairs 7-1 && backdoor-curves plots runs/mnist --onl",
            "```",
            "",
            "Run `backdoor-curves explain cifar10 --weights W.pth` or `backdoor-curves slopes`.",
            "",
            "<!-- flags: slope nn -->",
            "| flag | meaning |",
            "|---|---|",
            "| `-pair PAIR` / `--pair` | pairs |",
        ]
    )
    page = tmp_path / "page.md"
    page.write_text(text, encoding="utf-8")
    attributed = attributed_flags(text)
    assert ("slope", "--no-such-flag") in attributed
    assert ("curves", "--pairs") in attributed and ("plots", "--onl") in attributed
    assert ("explain-cifar10", "--weights") in attributed
    assert ("nn", "-pair") in attributed and ("slope", "--pair") in attributed
    assert not any(flag == "--ignored" for _, flag in attributed)
    helps = {
        "slope": "usage: [-pair PAIR, --pair PAIR] [--n-jobs N]",
        "curves": "[--pairs PAIRS]",
        "plots": "[--only KIND]",
        "nn": "[--arch ARCH]",
        "explain-cifar10": "[--weights PATH]",
    }
    assert flag_problems(attributed, helps) == [
        "nn: --pair is not in its --help",
        "nn: -pair is not in its --help",
        "plots: --onl is not in its --help",
        "slope: --no-such-flag is not in its --help",
    ]
    assert sorted(link_problems(page, text)) == [
        "page.md: link to missing heading #no-such-heading",
        "page.md: link to missing missing.md",
    ]
    assert named_commands(text) - set(cli.COMMANDS) == {"slopes"}


def test_the_figure_table_of_the_docs_is_the_captions_module() -> None:
    """docs/drivers.md's "file | paper figure | shows" rows are FIGURE_FAMILIES, in order."""
    text = (ROOT / "docs" / "drivers.md").read_text(encoding="utf-8")
    lines = text[text.index("| file | paper figure | shows |") :].splitlines()[2:]
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines]
    rows = rows[: next(i for i, line in enumerate(lines) if not line.startswith("|"))]
    expected = [
        [f"`{f.file}`" + (f" ({f.where})" if f.where else ""), f.paper, f.caption]
        for f in FIGURE_FAMILIES
    ]
    assert rows == expected
