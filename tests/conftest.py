"""Shared fixtures: paths to ../shared/data, a small random-weight model checkpoint and config."""
import os
from pathlib import Path

import pytest

os.environ.setdefault("YOLO_OFFLINE", "1")

from tests.shared import SHARED_DATA, reason  # noqa: E402


@pytest.fixture(autouse=True)
def _signal_stack_fits_amx():
    """Before every test: a signal stack large enough for AMX on the main thread. A test that ran
    OpenVINO leaves its small one behind, and the next signal with a handler (SIGCHLD once a
    DataLoader has run workers, SIGINT in the stop tests) would kill the run (rmpe/sigstack.py)."""
    from rmpe.sigstack import ensure_signal_stack

    ensure_signal_stack()
    yield
    ensure_signal_stack()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(reason(SHARED_DATA))
    return SHARED_DATA


_shared_skips = []


def pytest_runtest_logreport(report):
    """Remember data tests that skipped: with ../shared present that is a failure (a moved or
    renamed file, not a missing folder), so the checks on real data cannot vanish silently."""
    if report.skipped and isinstance(report.longrepr, tuple):
        text = str(report.longrepr[-1])
        if "../shared" in text:
            _shared_skips.append(f"{report.nodeid}: {text}")


def pytest_sessionfinish(session, exitstatus):
    if _shared_skips and SHARED_DATA.is_dir():
        lines = "\n  ".join(_shared_skips[:20])
        print(f"\nerror: {SHARED_DATA} is present but {len(_shared_skips)} data tests skipped:\n  {lines}")
        session.exitstatus = 1


SMALL_MODEL = [
    "model.name=fastpose_se18",
    "model.input_size=[128, 96]",
    "model.heatmap_size=[32, 24]",
]


@pytest.fixture(scope="session")
def small_model_files(tmp_path_factory):
    """(config path, checkpoint path) of a random-weight fastpose_se18 at 128x96."""
    import torch

    from rmpe.checkpoints import save_model_checkpoint
    from rmpe.config import load_config, save_config
    from rmpe.model import RMPEModel

    folder = tmp_path_factory.mktemp("small_model")
    cfg = load_config(overrides=SMALL_MODEL + ["device=cpu"])
    torch.manual_seed(0)
    model = RMPEModel.from_config(cfg)
    cfg_path = folder / "small.yaml"
    save_config(cfg, cfg_path)
    ckpt = folder / "small.pth"
    save_model_checkpoint(ckpt, model, config=cfg.to_dict())
    return cfg_path, ckpt
