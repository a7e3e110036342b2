"""The trigger-examples driver: shared data flags, one figure per pair, one-line errors."""

from __future__ import annotations

from pathlib import Path

from backdoor_curves.experiments import trigger_examples


def test_trigger_examples_draws_the_figure_of_the_requested_data(
    tmp_path: Path, data_dir: Path
) -> None:
    argv = ["--pair", "3-0", "--n-train", "40", "--n-test", "20", "--data-dir", str(data_dir)]
    assert trigger_examples.main([*argv, "--out-dir", str(tmp_path)]) == 0
    for suffix in (".pdf", ".png"):
        path = tmp_path / f"triggers_mnist_3-0{suffix}"
        assert path.is_file() and path.stat().st_size > 1000, path


def test_trigger_examples_bad_pair_is_one_line(tmp_path: Path, data_dir: Path, one_line_error):
    argv = ["--pair", "3-3", "--data-dir", str(data_dir), "--out-dir", str(tmp_path / "out")]
    one_line_error(trigger_examples.main, argv, "3-3", tmp_path / "out")
