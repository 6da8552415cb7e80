"""Training validation is rmpe-eval: the same checkpoint gives the same results and the same AP."""
from __future__ import annotations

import json

import pytest
import torch

from rmpe.cli.eval import main as eval_main
from rmpe.config import load_config
from rmpe.data.synthetic import generate_dataset
from rmpe.pipeline import load_model
from rmpe.train import Validator


@pytest.fixture(scope="module")
def val_set(tmp_path_factory):
    folder = tmp_path_factory.mktemp("val")
    summary = generate_dataset(folder, num_images=4, seed=5, size=(192, 144))
    return summary["annotations"], summary["images_dir"]


@pytest.mark.parametrize("settings", [
    ["pose_nms.type=none", "inference.flip=false", "inference.decoder=dark"],
    ["pose_nms.type=parametric", "pose_nms.score_threshold=0", "inference.flip=true", "inference.score=box_x_keypoints", "inference.batch=3"],
])
def test_validation_equals_rmpe_eval(small_model_files, val_set, tmp_path, settings):
    cfg_path, ckpt = small_model_files
    ann, images = val_set
    overrides = [f"data.val_ann={ann}", f"data.val_images={images}", "device=cpu", *settings]
    cfg = load_config(cfg_path, overrides=overrides)
    model = load_model(cfg, str(ckpt), torch.device("cpu"))
    model.train()  # the validator switches to eval mode and back

    validator = Validator.from_config(cfg)
    assert len(validator) == 4
    results = validator.predict(model, torch.device("cpu"))
    assert model.training
    metrics = validator(model, torch.device("cpu"))

    out = tmp_path / "results.json"
    args = ["--config", str(cfg_path), "--checkpoint", str(ckpt), "--boxes", "gt", "--out", str(out), "--quiet"]
    for item in overrides:
        args += ["--set", item]
    assert eval_main(args) == 0
    written = json.loads(out.read_text())
    scored = json.loads((tmp_path / "results.metrics.json").read_text())

    assert len(results) > 0
    assert written == results  # same people, same rounding, same order
    assert scored["AP"] == metrics["AP"] and scored["AR"] == metrics["AR"]
    assert metrics["num_people"] == len(results) and metrics["num_images"] == 4


def test_no_validation_set_gives_no_validator():
    assert Validator.from_config(load_config()) is None
