"""Whole-model checkpoints: SPPE + STN round trip, AlphaPose-style SPPE-only files, mismatches."""
import pytest
import torch

from rmpe.checkpoints import load_model_checkpoint, save_model_checkpoint
from rmpe.config import load_config
from rmpe.errors import RMPEError
from rmpe.model import RMPEModel

SMALL = ["model.name=fastpose_se18", "model.input_size=[128, 96]", "model.heatmap_size=[32, 24]"]


def _model(*extra):
    torch.manual_seed(len(extra))
    return RMPEModel.from_config(load_config(overrides=SMALL + list(extra))).eval()


def test_round_trip_with_stn(tmp_path):
    a = _model("model.stn=true")
    with torch.no_grad():
        for p in a.stn.parameters():
            p.add_(0.01 * torch.randn_like(p))
    save_model_checkpoint(tmp_path / "a.pth", a, epoch=3)
    b = _model("model.stn=true", "train.seed=1")
    extra = load_model_checkpoint(b, tmp_path / "a.pth")
    assert extra["epoch"] == 3 and "stn" not in extra
    x = torch.rand(2, 3, 128, 96)
    torch.testing.assert_close(a(x).heatmaps, b(x).heatmaps, rtol=0, atol=0)


def test_sppe_only_file_leaves_stn_identity(tmp_path):
    a = _model()
    torch.save({"module." + k: v for k, v in a.sppe.state_dict().items()}, tmp_path / "plain.pth")
    b = _model("model.stn=true")
    load_model_checkpoint(b, tmp_path / "plain.pth")
    theta = b.predict_theta(torch.rand(2, 3, 128, 96))
    torch.testing.assert_close(theta, torch.eye(3).expand(2, 3, 3), rtol=0, atol=1e-6)


def test_stn_weights_need_stn_config(tmp_path):
    save_model_checkpoint(tmp_path / "s.pth", _model("model.stn=true"))
    with pytest.raises(RMPEError, match="model.stn"):
        load_model_checkpoint(_model(), tmp_path / "s.pth")


def test_crop_size_mismatch_is_named(tmp_path):
    save_model_checkpoint(tmp_path / "m.pth", _model())
    other = RMPEModel.from_config(load_config(overrides=["model.name=fastpose_se18", "model.input_size=[256, 192]",
                                                         "model.heatmap_size=[64, 48]"]))
    with pytest.raises(RMPEError, match="128x96"):
        load_model_checkpoint(other, tmp_path / "m.pth")
