"""PoseNMSParams, its YAML file and the link to the config's ``pose_nms:`` section."""
from __future__ import annotations

import dataclasses

import pytest
import yaml

from pose_nms import PoseNMSError, PoseNMSParams, load_params, save_params
from rmpe.config import PoseNMSConfig, config_from_dict


def test_defaults_are_alphapose_constants_and_match_config():
    p = PoseNMSParams()
    assert (p.delta1, p.delta2, p.mu, p.gamma) == (1.0, 2.65, 1.7, 22.48)
    assert (p.score_threshold, p.match_threshold, p.alpha, p.min_area, p.distance) == (0.3, 5, 0.1, 0.0, "pixel")
    cfg = PoseNMSConfig()
    for f in dataclasses.fields(PoseNMSParams):
        assert getattr(cfg, f.name) == getattr(p, f.name), f.name
    assert PoseNMSParams.from_config(cfg) == p


def test_rmpe_variant():
    p = PoseNMSParams.rmpe()
    assert (p.delta1, p.delta2, p.mu, p.gamma, p.distance) == (0.01, 2.08, 2.08, 22.48, "normalized")


def test_from_config_duck_typed():
    cfg = PoseNMSConfig(delta1=0.5, gamma=10.0, distance="normalized", match_threshold=7)
    p = PoseNMSParams.from_config(cfg)
    assert (p.delta1, p.gamma, p.distance, p.match_threshold) == (0.5, 10.0, "normalized", 7)
    assert PoseNMSParams.from_config({"mu": 3}).mu == 3.0
    assert PoseNMSParams.from_config(None) == PoseNMSParams()


def test_save_load_roundtrip_and_config_section(tmp_path):
    p = PoseNMSParams(delta1=0.7, delta2=5.3, mu=2.2, gamma=15.0, min_area=10.0)
    path = tmp_path / "sub" / "nms.yaml"
    save_params(path, p, comment="tuned on val\nsecond line")
    assert load_params(path) == p
    assert [f.name for f in tmp_path.joinpath("sub").iterdir()] == ["nms.yaml"]  # no temp file left
    text = path.read_text()
    assert text.startswith("# tuned on val\n# second line\n")
    data = yaml.safe_load(text)
    assert set(data) <= {f.name for f in dataclasses.fields(PoseNMSConfig)}
    # the file loads as the config's pose_nms section ...
    cfg = config_from_dict({"pose_nms": data}, source=str(path))
    assert PoseNMSParams.from_config(cfg.pose_nms) == p
    # ... and a section pointing at it uses it
    pointing = PoseNMSConfig(params_file=str(path))
    assert PoseNMSParams.from_config(pointing) == p


def test_load_from_whole_config_file(tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text("model:\n  stn: true\npose_nms:\n  type: pose\n  gamma: 12.5\n  oks_threshold: 0.8\n")
    assert load_params(path) == PoseNMSParams(gamma=12.5)


def test_errors(tmp_path):
    with pytest.raises(PoseNMSError, match="not found: .*missing.yaml"):
        load_params(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("delta1: [1, 2\n")
    with pytest.raises(PoseNMSError, match="bad.yaml"):
        load_params(bad)
    bad.write_text("delta7: 1.0\n")
    with pytest.raises(PoseNMSError, match="bad.yaml: unknown key 'delta7'"):
        load_params(bad)
    bad.write_text("delta1: fast\n")
    with pytest.raises(PoseNMSError, match="bad.yaml: .*delta1"):
        load_params(bad)
    with pytest.raises(PoseNMSError, match="match_threshold"):
        PoseNMSParams(match_threshold=0)
    with pytest.raises(PoseNMSError, match="distance"):
        PoseNMSParams(distance="metric")
    with pytest.raises(PoseNMSError, match="gamma"):
        PoseNMSParams(gamma=float("nan"))
    with pytest.raises(PoseNMSError, match="delta1"):
        PoseNMSParams().replace(delta1=0.0)
