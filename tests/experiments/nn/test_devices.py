"""Devices of the network experiment (CUDA mocked): the default worker count, one GPU per task."""

import tempfile

import pytest
import torch

from backdoor_curves.experiments.nn import backdoor_slope
from backdoor_curves.experiments.nn.devices import claim_device, default_worker_count


@pytest.fixture
def four_gpus(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the GPU lock files


def test_default_worker_count_is_one_per_gpu(four_gpus) -> None:
    assert default_worker_count(torch.device("cuda")) == 4
    assert default_worker_count(torch.device("cpu")) == -1  # one per core


@pytest.mark.parametrize(("flags", "n_jobs"), [([], 4), (["--n-jobs", "2"], 2)])
def test_driver_on_cuda_runs_one_worker_per_gpu(four_gpus, tmp_path, flags, n_jobs) -> None:
    argv = ["--profile", "smoke", "--device", "cuda", "--out-dir", str(tmp_path / "out"), *flags]
    parser = backdoor_slope.build_parser()
    request = backdoor_slope._request_from_args(parser.parse_args(argv), parser)
    assert request.device.type == "cuda" and request.execution.n_jobs == n_jobs


def test_each_task_claims_a_gpu_no_other_task_holds(four_gpus) -> None:
    with claim_device("cuda") as first, claim_device("cuda") as second:
        assert (first, second) == (torch.device("cuda", 0), torch.device("cuda", 1))
    with claim_device("cuda") as again:
        assert again == torch.device("cuda", 0)  # released at the end of the task
    with claim_device("cpu") as cpu:
        assert cpu == torch.device("cpu")
