"""State-dict layout against AlphaPose's published layouts (shared/reference JSON files)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from sppe import build_sppe, infer_arch
from tests.shared import SHARED_REFERENCE, require

REFERENCE = SHARED_REFERENCE
FASTPOSE50 = REFERENCE / "alphapose_fastpose_res50_state_dict.json"
LEGACY101 = REFERENCE / "alphapose_legacy_duc_se_res101_state_dict.json"


def _reference(path: Path) -> dict:
    return json.loads(require(path).read_text())


def _compare(model, ref: dict) -> None:
    state = model.state_dict()
    expected = [(e["key"], tuple(e["shape"]), e["dtype"]) for e in ref["state_dict"]]
    actual = [(k, tuple(v.shape), str(v.dtype).replace("torch.", "")) for k, v in state.items()]
    assert len(actual) == ref["num_state_dict_entries"] == len(expected)
    missing = [k for k, _, _ in expected if k not in state]
    extra = [k for k, _, _ in actual if k not in {e[0] for e in expected}]
    assert not missing and not extra, (missing[:3], extra[:3])
    assert actual == expected  # same keys, same order, same shapes and dtypes
    trainable = {e["key"] for e in ref["state_dict"] if e["trainable"]}
    assert {k for k, _ in model.named_parameters()} == trainable
    assert sum(p.numel() for p in model.parameters()) == ref["num_parameters"]
    assert sum(b.numel() for b in model.buffers()) == ref["num_buffer_elements"]


def test_fastpose_se50_equals_alphapose_layout():
    ref = _reference(FASTPOSE50)
    assert ref["num_state_dict_entries"] == 348 and ref["num_parameters"] == 40_577_745
    model = build_sppe("fastpose_se50", num_keypoints=ref["num_joints"])
    _compare(model, ref)
    assert list(ref["output_shape_NCHW"][1:]) == [17, 64, 48]


def test_fastpose_se101_with_33_channels_equals_legacy_duc_se_layout():
    ref = _reference(LEGACY101)
    model = build_sppe("fastpose_se101", num_keypoints=ref["num_output_channels"], input_size=(320, 256))
    _compare(model, ref)
    assert model.heatmap_size == tuple(ref["output_shape_NCHW"][2:])


def test_infer_arch_recovers_alphapose_layouts():
    import torch

    for path, expected in ((FASTPOSE50, (50, 17)), (LEGACY101, (101, 33))):
        ref = _reference(path)
        fake = {e["key"]: torch.empty(e["shape"]) for e in ref["state_dict"]}
        arch = infer_arch(fake)
        assert arch == {"depth": expected[0], "se": "first", "se_reduction": 1,
                        "duc_channels": [1024, 512], "num_keypoints": expected[1]}
