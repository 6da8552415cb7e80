"""save_checkpoint / load_checkpoint / read_checkpoint_metadata: round trips, formats, errors, safety."""
from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
import torch

import sppe
from sppe import (
    SPPEError,
    build_sppe,
    build_sppe_from_checkpoint,
    load_checkpoint,
    read_checkpoint_metadata,
    save_checkpoint,
)

INPUT = (64, 64)


def _png(width: int, height: int) -> bytes:
    """A grey 8-bit PNG (no image library needed)."""
    import struct

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


_PNG_1X1 = _png(32, 32)


@pytest.fixture(scope="module")
def source():
    """A se18 with random weights and BN statistics, non-default normalisation and crop size."""
    torch.manual_seed(0)
    model = build_sppe("fastpose_se18", input_size=(128, 96), pixel_mean=(0.5, 0.4, 0.3), pixel_std=(0.2, 0.3, 0.4))
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if name.endswith("running_var"):
                t.copy_(torch.rand_like(t) + 0.5)
            elif t.is_floating_point():
                t.add_(torch.randn_like(t) * 0.05)
    return model.eval()


@pytest.fixture(scope="module")
def images():
    return torch.randn(2, 3, *INPUT, generator=torch.Generator().manual_seed(1))


def _out(model, x):
    with torch.no_grad():
        return model.eval()(x)


def _no_temp_files(folder: Path) -> bool:
    return not [p for p in folder.iterdir() if p.name.endswith(".tmp")]


# ----------------------------------------------------------------------------- round trips
def test_round_trip_identical_outputs_and_extras(tmp_path, source, images):
    optimizer = torch.optim.Adam(source.parameters(), lr=1e-3)
    config = {"train": {"lr": 1e-3, "lr_steps": [90, 120]}, "name": "x", "flag": True, "none": None}
    path = save_checkpoint(tmp_path / "ckpt.pth", source, epoch=3, config=config, optimizer=optimizer.state_dict())
    assert path == tmp_path / "ckpt.pth" and path.exists() and _no_temp_files(tmp_path)

    fresh = build_sppe("fastpose_se18")
    assert not torch.equal(_out(fresh, images), _out(source, images))
    extra = load_checkpoint(fresh, path)
    assert torch.equal(_out(fresh, images), _out(source, images))
    assert extra["epoch"] == 3 and extra["config"] == config
    assert set(extra) == {"epoch", "config", "optimizer"}
    # the normalisation constants and the crop size travel with the checkpoint
    assert fresh.pixel_mean == (0.5, 0.4, 0.3) and fresh.pixel_std == (0.2, 0.3, 0.4)
    assert fresh.input_size == (128, 96)


def test_checkpoint_content(tmp_path, source):
    path = save_checkpoint(tmp_path / "c.pth", source, epoch=1)
    raw = torch.load(path, map_location="cpu", weights_only=True)
    assert raw["format"] == "rmpe-sppe" and raw["format_version"] == 1
    assert raw["sppe"]["name"] == "fastpose_se18" and raw["sppe"]["num_keypoints"] == 17
    assert raw["sppe"]["pixel_mean"] == [0.5, 0.4, 0.3] and raw["sppe"]["input_size"] == [128, 96]
    assert list(raw["model"]) == list(source.state_dict())


def test_metadata_and_rebuild(tmp_path, source, images):
    path = save_checkpoint(tmp_path / "c.pth", source, epoch=7, optimizer={"state": {}})
    info = read_checkpoint_metadata(path)
    assert info["format"] == "rmpe-sppe" and info["name"] == "fastpose_se18" and info["num_keypoints"] == 17
    assert info["arch"] == {"depth": 18, "se": "first", "se_reduction": 1, "duc_channels": [512, 256]}
    assert info["extra"] == {"epoch": 7} and info["extra_keys"] == ["epoch", "optimizer"]
    assert info["num_parameters"] == sum(p.numel() for p in source.parameters())
    rebuilt = build_sppe_from_checkpoint(path)
    assert not rebuilt.training and rebuilt.pixel_std == (0.2, 0.3, 0.4)
    assert torch.equal(_out(rebuilt, images), _out(source, images))
    assert build_sppe_from_checkpoint(path, input_size=(256, 192)).input_size == (256, 192)


@pytest.mark.parametrize("prefix", ["", "module."])
def test_plain_state_dict_alphapose_style(tmp_path, source, images, prefix):
    path = tmp_path / "alphapose.pth"
    torch.save({prefix + k: v for k, v in source.state_dict().items()}, path)
    fresh = build_sppe("fastpose_se18")
    assert load_checkpoint(fresh, path) == {}
    assert torch.equal(_out(fresh, images), _out(source, images))
    assert fresh.pixel_mean == sppe.ALPHAPOSE_PIXEL_MEAN  # a plain state dict carries no normalisation
    info = read_checkpoint_metadata(path)
    assert (info["format"], info["name"], info["num_keypoints"]) == ("state_dict", "fastpose_se18", 17)
    assert torch.equal(_out(build_sppe_from_checkpoint(path), images), _out(fresh, images))


def test_state_dict_under_state_dict_key_and_missing_batch_counters(tmp_path, source, images):
    state = {k: v for k, v in source.state_dict().items() if not k.endswith("num_batches_tracked")}
    path = tmp_path / "old.pth"
    torch.save({"state_dict": state, "epoch": 5}, path)  # like files from old PyTorch versions
    fresh = build_sppe("fastpose_se18")
    assert load_checkpoint(fresh, path) == {"epoch": 5}
    assert torch.equal(_out(fresh, images), _out(source, images))


def test_wrapped_models_save_and_load_bare_keys(tmp_path, source, images):
    path = save_checkpoint(tmp_path / "dp.pth", torch.nn.DataParallel(source))
    raw = torch.load(path, map_location="cpu", weights_only=True)
    assert not any(k.startswith("module.") for k in raw["model"])
    target = torch.nn.DataParallel(build_sppe("fastpose_se18"))
    load_checkpoint(target, path)
    assert torch.equal(_out(target.module, images), _out(source, images))


def test_fastpose_se50_round_trip_strict(tmp_path):
    """The AlphaPose-layout model saved as AlphaPose does (DataParallel prefix) loads strictly."""
    torch.manual_seed(3)
    model = build_sppe("fastpose_se50").eval()
    path = tmp_path / "fast_res50_256x192.pth"
    torch.save({"module." + k: v for k, v in model.state_dict().items()}, path)
    fresh = build_sppe("fastpose_se50").eval()
    load_checkpoint(fresh, path, strict=True)
    x = torch.randn(1, 3, 64, 64)
    assert torch.equal(_out(fresh, x), _out(model, x))


def test_save_is_atomic_on_failure(tmp_path, source, monkeypatch):
    path = save_checkpoint(tmp_path / "c.pth", source, epoch=1)
    before = path.read_bytes()

    def broken_save(obj, f, *args, **kwargs):
        f.write(b"partial")
        raise RuntimeError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(RuntimeError, match="disk full"):
        save_checkpoint(path, source, epoch=2)
    monkeypatch.undo()
    assert path.read_bytes() == before and _no_temp_files(tmp_path)
    assert read_checkpoint_metadata(path)["extra"] == {"epoch": 1}


def test_save_rejects_unloadable_and_reserved_extras(tmp_path, source):
    with pytest.raises(SPPEError, match=r"config\.out_dir is a pathlib\.\w*Path"):
        save_checkpoint(tmp_path / "c.pth", source, config={"out_dir": Path("/tmp")})
    with pytest.raises(SPPEError, match="'model' is a reserved"):
        save_checkpoint(tmp_path / "c.pth", source, model={})
    with pytest.raises(SPPEError, match="needs an sppe model"):
        save_checkpoint(tmp_path / "c.pth", torch.nn.Linear(2, 2))
    assert not list(tmp_path.iterdir())


def test_torch_load_always_weights_only(tmp_path, source, monkeypatch):
    path = save_checkpoint(tmp_path / "c.pth", source)
    calls = []
    real_load = torch.load

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    load_checkpoint(build_sppe("fastpose_se18"), path)
    read_checkpoint_metadata(path)
    build_sppe_from_checkpoint(path)
    assert calls and all(c.get("weights_only") is True for c in calls)


# ----------------------------------------------------------------------------- malicious files
class _Payload:
    """Unpickling this runs open(marker, "w"), which creates the marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


class _SystemPayload(_Payload):
    """Unpickling this runs os.system("touch marker") (torch blocks the whole posix module)."""

    def __reduce__(self):
        return (os.system, (f"touch '{self.marker}'",))


def write_malicious(path: Path, marker: Path, writer: str, payload: type = _Payload) -> Path:
    """A checkpoint-looking file whose unpickling would create ``marker``.

    writer: ``zip`` (torch.save), ``legacy`` (torch.save's pre-1.6 format), ``raw_pickle``
    (pickle.dumps, protocol 2 as torch's legacy reader expects), ``raw_pickle5`` (the default
    protocol), ``inside_state_dict`` (a tensor entry replaced by the payload).
    """
    evil = payload(marker)
    if writer == "zip":
        torch.save({"model": evil}, path)
    elif writer == "legacy":
        torch.save({"model": {"w": torch.zeros(1)}, "x": evil}, path, _use_new_zipfile_serialization=False)
    elif writer == "raw_pickle":
        path.write_bytes(pickle.dumps(evil, protocol=2))
    elif writer == "raw_pickle5":
        path.write_bytes(pickle.dumps({"model": evil}))
    else:
        torch.save({"conv_out.weight": torch.zeros(1), "conv_out.bias": evil}, path)
    return path


MALICIOUS_WRITERS = ["zip", "legacy", "raw_pickle", "raw_pickle5", "inside_state_dict"]


def assert_plain_refusal(message: str, name: str) -> None:
    """The project's own refusal: one line, names the file, never torch's advice to switch weights_only off."""
    assert "\n" not in message
    assert name in message
    assert "holds code or objects that are not tensors and was not loaded" in message
    assert "refused by torch.load(weights_only=True)" in message
    assert "re-save just its state_dict() from a trusted copy" in message
    assert "Re-running" not in message and "set to `False`" not in message and "weights_only set to False" not in message
    assert "not a PyTorch checkpoint" not in message


@pytest.mark.parametrize("payload", [_Payload, _SystemPayload], ids=["open", "os_system"])
@pytest.mark.parametrize("writer", MALICIOUS_WRITERS)
def test_code_running_pickle_is_refused(tmp_path, writer, payload):
    marker = tmp_path / "pwned"
    path = write_malicious(tmp_path / "evil.pth", marker, writer, payload)
    model = build_sppe("fastpose_se18")
    with pytest.raises(SPPEError) as info:
        load_checkpoint(model, path)
    assert_plain_refusal(str(info.value), "evil.pth")
    with pytest.raises(SPPEError, match="not tensors"):
        read_checkpoint_metadata(path)
    with pytest.raises(SPPEError, match="not tensors"):
        build_sppe_from_checkpoint(path)
    assert not marker.exists()
    # control: the payload is live, an unsafe load would have run it
    if writer.startswith("raw_pickle") and payload is _Payload:
        pickle.loads(path.read_bytes())
        assert marker.exists()


@pytest.mark.parametrize("writer", MALICIOUS_WRITERS)
def test_refusal_names_what_the_file_references(tmp_path, writer):
    path = write_malicious(tmp_path / "evil.pth", tmp_path / "pwned", writer, _SystemPayload)
    with pytest.raises(SPPEError, match=r"refers to (posix|os|nt)\.system\)"):
        load_checkpoint(build_sppe("fastpose_se18"), path)


def test_foreign_object_is_refused_not_called_corrupt(tmp_path):
    """An argparse.Namespace (AlphaPose's old full checkpoints hold one) is refused the same way."""
    import argparse

    path = tmp_path / "opt.pth"
    torch.save({"opt": argparse.Namespace(a=1), "model": {"w": torch.zeros(1)}}, path)
    with pytest.raises(SPPEError) as info:
        load_checkpoint(build_sppe("fastpose_se18"), path)
    assert_plain_refusal(str(info.value), "opt.pth")
    assert "argparse.Namespace" in str(info.value)


# ----------------------------------------------------------------------------- error messages
def test_missing_file(tmp_path):
    missing = tmp_path / "nope.pth"
    with pytest.raises(SPPEError, match=r"checkpoint .*nope\.pth does not exist"):
        load_checkpoint(build_sppe("fastpose_se18"), missing)
    with pytest.raises(SPPEError, match="does not exist"):
        read_checkpoint_metadata(missing)
    with pytest.raises(SPPEError, match="is a directory"):
        load_checkpoint(build_sppe("fastpose_se18"), tmp_path)


@pytest.mark.parametrize("kind", ["text", "random", "empty", "list", "strings", "empty_dict", "zip_garbage"])
def test_not_a_checkpoint(tmp_path, kind):
    path = tmp_path / f"{kind}.pth"
    if kind == "text":
        path.write_text("this is not a checkpoint\n")
    elif kind == "random":
        path.write_bytes(os.urandom(4096))
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "list":
        torch.save([torch.zeros(2)], path)
    elif kind == "strings":
        torch.save({"a": "b", "c": 1}, path)
    elif kind == "empty_dict":
        torch.save({}, path)
    else:
        path.write_bytes(b"PK\x03\x04" + os.urandom(200))
    with pytest.raises(SPPEError, match=rf"{kind}\.pth is not a (PyTorch|model) checkpoint") as info:
        load_checkpoint(build_sppe("fastpose_se18"), path)
    assert "\n" not in str(info.value)


def test_shape_mismatch_names_first_key_and_both_shapes(tmp_path, source):
    path = save_checkpoint(tmp_path / "c.pth", source)
    other = build_sppe("fastpose_se18", duc_channels=(256, 256))
    # the model's first entry whose shape differs: duc1.conv.weight (the trunk is identical)
    with pytest.raises(SPPEError) as info:
        load_checkpoint(other, path)
    message = str(info.value)
    assert "'duc1.conv.weight'" in message
    assert "(512, 128, 3, 3) in the checkpoint" in message and "(256, 128, 3, 3) in the model" in message


def test_wrong_keypoint_count(tmp_path, source):
    path = save_checkpoint(tmp_path / "k17.pth", source)
    with pytest.raises(SPPEError, match=r"checkpoint .*k17\.pth has 17 keypoints, model expects 14"):
        load_checkpoint(build_sppe("fastpose_se18", num_keypoints=14), path)
    plain = tmp_path / "plain17.pth"
    torch.save(source.state_dict(), plain)
    with pytest.raises(SPPEError, match="has 17 keypoints, model expects 14"):
        load_checkpoint(build_sppe("fastpose_se18", num_keypoints=14), plain)


def test_skip_mismatched_keeps_own_output_layer(tmp_path, source):
    path = save_checkpoint(tmp_path / "k17.pth", source)
    target = build_sppe("fastpose_se18", num_keypoints=14)
    own_out = target.conv_out.weight.detach().clone()
    with pytest.warns(UserWarning, match="conv_out.weight"):
        load_checkpoint(target, path, skip_mismatched=True)
    assert torch.equal(target.conv_out.weight, own_out)
    assert torch.equal(target.duc2.conv.weight, source.duc2.conv.weight)


def test_other_architecture_strict_and_non_strict(tmp_path, source):
    path = save_checkpoint(tmp_path / "se18.pth", source)
    with pytest.raises(SPPEError, match=r"saved from fastpose_se18.*'preact\.layer1\.2\.conv1\.weight'"):
        load_checkpoint(build_sppe("fastpose_se34"), path)
    se34 = build_sppe("fastpose_se34")
    load_checkpoint(se34, path, strict=False)  # the blocks both have are taken over
    assert torch.equal(se34.preact.layer3[1].conv2.weight, source.preact.layer3[1].conv2.weight)


def test_newer_format_version_is_refused(tmp_path, source):
    path = tmp_path / "future.pth"
    torch.save({"format": "rmpe-sppe", "format_version": 99, "model": source.state_dict(), "sppe": {}}, path)
    with pytest.raises(SPPEError, match="format version 99"):
        load_checkpoint(build_sppe("fastpose_se18"), path)


# ----------------------------------------------------------------------------- through the CLIs
def _cli(module: str, *args: str, cwd: Path) -> "subprocess.CompletedProcess[str]":
    root = Path(__file__).resolve().parents[2]
    env = dict(os.environ, PYTHONPATH=str(root), YOLO_OFFLINE="1")
    return subprocess.run([sys.executable, "-m", module, *args], env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=180)


@pytest.mark.parametrize("writer", ["zip", "legacy", "raw_pickle"])
def test_malicious_checkpoint_through_demo_and_eval(tmp_path, small_model_files, writer):
    """rmpe-demo and rmpe-eval (and rmpe-train --resume, same loader): exit 2, one plain line, nothing run."""
    cfg, _ = small_model_files
    marker = tmp_path / "pwned"
    evil = write_malicious(tmp_path / "evil.pth", marker, writer, _SystemPayload)
    before = evil.read_bytes()
    image = tmp_path / "a.png"
    image.write_bytes(_PNG_1X1)
    dets = tmp_path / "dets.json"
    dets.write_text('[{"image_id": "a.png", "category_id": 1, "bbox": [0, 0, 1, 1], "score": 0.9}]')
    (tmp_path / "ann.json").write_text(json.dumps({
        "images": [{"id": 1, "file_name": "a.png", "width": 32, "height": 32}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [4, 4, 20, 24], "area": 480, "iscrowd": 0,
                         "num_keypoints": 17, "keypoints": [12, 12, 2] * 17}],
        "categories": [{"id": 1, "name": "person", "keypoints": [f"k{i}" for i in range(17)], "skeleton": []}],
    }))
    runs = {"rmpe-demo": _cli("rmpe.cli.demo", "--config", str(cfg), "--checkpoint", str(evil), "--device", "cpu",
                          "--quiet", "--image", str(image), "--detector", str(dets), "--json", "out.json",
                          cwd=tmp_path)}
    if writer == "zip":  # the loader is shared; one format is enough for the second tool
        runs["rmpe-eval"] = _cli("rmpe.cli.eval", "--config", str(cfg), "--checkpoint", str(evil), "--device", "cpu",
                                 "--quiet", "--ann", str(tmp_path / "ann.json"), "--images", str(tmp_path),
                                 cwd=tmp_path)
    for tool, res in runs.items():
        assert res.returncode == 2, (tool, res.stderr)
        lines = [line for line in res.stderr.splitlines() if line.strip()]
        assert len(lines) == 1, (tool, res.stderr)
        assert lines[0].startswith(f"{tool}: error: checkpoint {evil} holds code or objects"), lines[0]
        assert_plain_refusal(lines[0], "evil.pth")
    assert not marker.exists()
    assert evil.read_bytes() == before
    assert not (tmp_path / "out.json").exists()
