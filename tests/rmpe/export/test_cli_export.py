"""rmpe-export's command line: a written, self-describing file; bad input in one line before work."""
import importlib.util

import onnx
import pytest

from rmpe.cli.export import main as export_main
from rmpe.export.metadata import read_metadata


def _one_line(capsys, args, *needles):
    assert export_main(args) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("rmpe-export: error:")
    for n in needles:
        assert n in lines[0], lines[0]


def test_export_writes_checked_file(exported, tmp_path, capsys):
    _, _, ckpt, _ = exported[True]
    out = tmp_path / "sub" / "m.onnx"
    assert export_main(["--checkpoint", str(ckpt), "--out", str(out), "--batch", "3"]) == 0
    err = capsys.readouterr().err
    assert "onnxruntime matches PyTorch" in err and f"wrote {out}" in err
    meta = read_metadata(out)
    assert meta.stn and meta.batch == 3 and meta.outputs == ["heatmaps", "theta", "features"] and meta.features
    assert [d.dim_value for d in onnx.load(str(out)).graph.input[0].type.tensor_type.shape.dim] == [3, 3, 128, 96]
    assert [p.name for p in out.parent.iterdir()] == ["m.onnx"]  # no temporary left behind


def test_input_size_option(exported, tmp_path):
    _, _, ckpt, _ = exported[False]
    out = tmp_path / "m160.onnx"
    # the SPPE is fully convolutional: the same weights export at another crop size
    assert export_main(["--checkpoint", str(ckpt), "--out", str(out), "--input-size", "160x128", "--quiet"]) == 0
    meta = read_metadata(out)
    assert meta.input_size == (160, 128) and meta.heatmap_size == (40, 32)


@pytest.mark.skipif(importlib.util.find_spec("tensorrt") is not None, reason="TensorRT is installed here")
def test_engine_without_tensorrt_is_one_line(exported, tmp_path, capsys):
    _, _, ckpt, _ = exported[False]
    _one_line(capsys, ["--checkpoint", str(ckpt), "--out", str(tmp_path / "m.onnx"), "--engine",
                       str(tmp_path / "m.plan"), "--fp16"], "--engine needs TensorRT and an NVIDIA GPU")
    assert list(tmp_path.iterdir()) == []  # refused before the export


def test_bad_inputs(exported, tmp_path, capsys):
    _, _, ckpt, path = exported[False]
    _one_line(capsys, ["--checkpoint", str(path), "--out", str(tmp_path / "a.onnx")], "already an ONNX file")
    _one_line(capsys, ["--checkpoint", str(tmp_path / "nope.pth"), "--out", str(tmp_path / "a.onnx")], "not found")
    _one_line(capsys, ["--checkpoint", str(ckpt), "--out", str(tmp_path / "a.pth")], "ending in .onnx")
    _one_line(capsys, ["--checkpoint", str(ckpt)], "--out")
    _one_line(capsys, ["--checkpoint", str(ckpt), "--out", str(tmp_path / "a.onnx"), "--fp16"], "--engine")
    _one_line(capsys, ["--checkpoint", str(ckpt), "--out", str(tmp_path / "a.onnx"), "--opset", "13"], "opset")
    _one_line(capsys, ["--checkpoint", str(ckpt), "--out", str(tmp_path / "a.onnx"), "--input-size", "100x96"],
              "multiples of 32")
    _one_line(capsys, ["--checkpoint", str(ckpt), "--out", str(tmp_path / "a.onnx"), "--batch", "x"], "dynamic")
    _one_line(capsys, ["--checkpoint", str(ckpt), "--out", str(tmp_path / "a.onnx"), "--engine", str(ckpt)],
              "is the input")
    assert not (tmp_path / "a.onnx").exists()
