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


# ----------------------------------------------------------------------------- issue 16: the stored config


def test_stored_config_round_trip_and_moved_keys(tmp_path):
    import argparse

    from rmpe.checkpoints import stored_config
    from rmpe.cli.options import config_from_args

    cfg = load_config(overrides=SMALL)
    data = cfg.to_dict()
    # an old checkpoint: keys that have moved since
    data["eval"]["flip"] = True
    data["demo"]["batch"] = 3
    del data["inference"]
    save_model_checkpoint(tmp_path / "old.pth", RMPEModel.from_config(cfg), config=data)
    stored = stored_config(tmp_path / "old.pth")
    assert stored["inference"] == {"flip": True, "batch": 3}
    assert "flip" not in stored["eval"] and "batch" not in stored["demo"]
    said = []
    args = argparse.Namespace(config=None, overrides=["inference.sppe_batch=5"], flip=None, decoder=None, nms=None,
                              batch=None, sppe_batch=None, half=None, score=None, device=None)
    got = config_from_args(args, checkpoint=str(tmp_path / "old.pth"), log=said.append)
    assert got.model.name == "fastpose_se18" and got.inference.flip and got.inference.batch == 3
    assert got.inference.sppe_batch == 5
    assert said == [f"using the config stored in {tmp_path / 'old.pth'}"]


def test_no_stored_config_keeps_the_defaults(tmp_path):
    import argparse

    from rmpe.checkpoints import stored_config
    from rmpe.cli.options import config_from_args

    save_model_checkpoint(tmp_path / "plain.pth", _model())
    assert stored_config(tmp_path / "plain.pth") is None
    args = argparse.Namespace(config=None, overrides=[], flip=None, decoder=None, nms=None, batch=None,
                              sppe_batch=None, half=None, score=None, device=None)
    said = []
    assert config_from_args(args, checkpoint=str(tmp_path / "plain.pth"), log=said.append).model.name == "fastpose_se50"
    assert said == []
    with pytest.raises(RMPEError, match="is a folder"):
        stored_config(tmp_path)


def test_config_mismatch_names_every_differing_architecture_key(tmp_path):
    import argparse

    from rmpe.cli.options import config_from_args

    cfg = load_config(overrides=SMALL)
    save_model_checkpoint(tmp_path / "c.pth", RMPEModel.from_config(cfg), config=cfg.to_dict())
    yaml_file = tmp_path / "other.yaml"
    yaml_file.write_text("model:\n  stn: true\n")
    args = argparse.Namespace(config=str(yaml_file), overrides=[], flip=None, decoder=None, nms=None, batch=None,
                              sppe_batch=None, half=None, score=None, device=None)
    with pytest.raises(RMPEError) as info:
        config_from_args(args, checkpoint=str(tmp_path / "c.pth"))
    message = str(info.value)
    for key in ("model.name", "model.input_size", "model.heatmap_size", "model.stn"):
        assert key in message
    assert "model.num_keypoints" not in message and "other.yaml" in message
    # the same config with matching --set overrides is accepted
    args.overrides = SMALL + ["model.stn=false"]
    assert config_from_args(args, checkpoint=str(tmp_path / "c.pth")).model.name == "fastpose_se18"
