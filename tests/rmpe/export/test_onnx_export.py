"""rmpe-export: the plain-op sampling grid, the exported graph, its metadata and verification."""
import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
import torch.nn.functional as F

from rmpe.crop import affine_grid
from rmpe.errors import RMPEError
from rmpe.export.metadata import read_metadata
from rmpe.export.onnx import ExportGraph, export_onnx, verify_against_torch
from rmpe.keypoints import COCO_FLIP_PAIRS, COCO_KEYPOINTS

from .conftest import STN_THETA, small_config, small_model


@pytest.mark.parametrize("size", [(7, 5), (128, 96), (1, 3)])
def test_affine_grid_equals_torch_affine_grid(size):
    gen = torch.Generator().manual_seed(0)
    theta = torch.randn(4, 2, 3, generator=gen, dtype=torch.float64)
    ref = F.affine_grid(theta, [4, 1, *size], align_corners=False)
    got = affine_grid(theta, size)
    assert got.shape == ref.shape and got.dtype == torch.float64
    assert torch.allclose(got, ref, atol=1e-12, rtol=0)


def test_affine_grid_hand_case():
    # identity on a 2x2 output: centres at -0.5 / +0.5; a shift by (0.25, -0.5) moves them all
    theta = torch.tensor([[[1.0, 0.0, 0.25], [0.0, 1.0, -0.5]]], dtype=torch.float64)
    grid = affine_grid(theta, (2, 2))
    expect = torch.tensor([[[[-0.25, -1.0], [0.75, -1.0]], [[-0.25, 0.0], [0.75, 0.0]]]], dtype=torch.float64)
    assert torch.equal(grid, expect)


def _ort(path_or_proto):
    data = path_or_proto.SerializeToString() if hasattr(path_or_proto, "SerializeToString") else str(path_or_proto)
    return ort.InferenceSession(data, providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("stn", [False, True])
def test_graph_ops_metadata_and_dynamic_batch(exported, stn):
    model, cfg, _, path = exported[stn]
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    ops = {n.op_type for n in proto.graph.node}
    assert "DepthToSpace" in ops  # the DUC's PixelShuffle
    assert ("GridSample" in ops) == stn
    assert not any(op.startswith(("ATen", "PythonOp")) for op in ops)
    assert [o.name for o in proto.graph.output] == (["heatmaps", "theta", "features"] if stn else ["heatmaps", "features"])
    meta = read_metadata(path)
    assert meta.keypoint_names == list(COCO_KEYPOINTS)
    assert [tuple(p) for p in meta.flip_pairs] == [tuple(p) for p in COCO_FLIP_PAIRS]
    assert meta.input_size == (128, 96) and meta.heatmap_size == (32, 24)
    assert tuple(meta.pixel_mean) == pytest.approx((0.406, 0.457, 0.480))
    assert meta.model_name == "fastpose_se18" and meta.stn is stn and meta.batch is None
    assert meta.codec == {"sigma": 2.0, "decoder": "argmax"}
    assert meta.config["model"]["stn"] is stn
    session = _ort(path)
    graph = ExportGraph(model).eval()
    for n in (1, 5):  # dynamic batch
        x = torch.rand(n, 3, 128, 96, generator=torch.Generator().manual_seed(n))
        got = session.run(None, {"crops": x.numpy()})
        with torch.no_grad():
            ref = graph(x)
        ref = ref if isinstance(ref, tuple) else (ref,)
        assert got[0].shape == (n, 17, 32, 24)
        assert float(ref[0].abs().max()) > 0.05  # heatmaps large enough for the tolerance to mean something
        assert np.abs(got[0] - ref[0].numpy()).max() <= 1e-4
        if stn:
            assert np.abs(got[1] - ref[1].numpy()).max() <= 1e-5
        feats = got[-1]
        assert feats.shape == (n, model.sppe.feature_channels) == (n, 192)  # ResNet-18: 3 parts x 64 channels
        with torch.no_grad():  # independent of ExportGraph: the SPPE's own forward_features
            crop_prime = ref[-1] if stn else x
            _, ref_feats = model.sppe.forward_features(model.normalize(crop_prime))
        assert np.abs(feats - ref_feats.numpy()).max() <= 1e-4


def test_theta_output_is_the_known_transform_in_pixels(exported):
    _, _, _, path = exported[True]
    theta = _ort(path).run(["theta"], {"crops": np.random.default_rng(0).random((2, 3, 128, 96), np.float32)})[0]
    # hand reference: crop px -> normalised is P = [[2/W, 0, 1/W - 1], [0, 2/H, 1/H - 1]]; theta_px = P^-1 T P
    h, w = 128, 96
    p = np.array([[2 / w, 0, 1 / w - 1], [0, 2 / h, 1 / h - 1], [0, 0, 1]])
    t = np.vstack([np.array(STN_THETA).reshape(2, 3), [0, 0, 1]])
    expect = np.linalg.inv(p) @ t @ p
    assert np.abs(theta - expect).max() < 1e-4
    assert np.abs(expect - np.eye(3)).max() > 1  # really not the identity (a 5 px shift and more)


def test_uint8_input_fixed_batch_and_flip(tmp_path):
    model, cfg = small_model(False), small_config(False)
    path = tmp_path / "u8.onnx"
    export_onnx(model, str(path), config=cfg, input_dtype="uint8", batch=2, flip=True)
    proto = onnx.load(str(path))
    shape = [d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim]
    assert shape == [2, 3, 128, 96]
    assert proto.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.UINT8
    meta = read_metadata(path)
    assert meta.input_dtype == "uint8" and meta.batch == 2 and meta.flip
    x = torch.randint(0, 256, (2, 3, 128, 96), dtype=torch.uint8, generator=torch.Generator().manual_seed(3))
    got = _ort(path).run(["heatmaps"], {"crops": x.numpy()})[0]
    with torch.no_grad():  # the torch flip test on the same crops
        ref = model._sppe_heatmaps(x.float() / 255.0, flip=True)[0]
    assert np.abs(got - ref.numpy()).max() <= 1e-4


def test_mismatch_fails_loudly_and_writes_nothing(tmp_path, monkeypatch):
    import rmpe.export.onnx as export_module

    model, cfg = small_model(False), small_config(False)
    monkeypatch.setattr(export_module, "FP32_TOLERANCE", -1.0)  # any difference now counts as a mismatch
    out = tmp_path / "never.onnx"
    with pytest.raises(RMPEError, match="differ by .* on 'heatmaps'.*not written"):
        export_onnx(model, str(out), config=cfg)
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_verify_catches_other_weights():
    model, cfg = small_model(False), small_config(False)
    proto, report = export_onnx(model, None, config=cfg)
    assert report["heatmaps"] <= 1e-4
    with torch.no_grad():
        model.sppe.conv_out.bias.add_(0.01)
    with pytest.raises(RMPEError, match="differ"):
        verify_against_torch(proto, ExportGraph(model).eval(), batch=2, seed=0, tolerance=1e-4)


def test_opset_below_16_is_refused():
    with pytest.raises(RMPEError, match="opset 16"):
        export_onnx(small_model(False), None, opset=15)


def test_half_graph(tmp_path):
    model, cfg = small_model(True), small_config(True)
    path = tmp_path / "half.onnx"
    _, report = export_onnx(model, str(path), config=cfg, half=True)
    assert 0 < report["heatmaps"] <= 2e-2 and report["theta"] <= 1e-5  # the SPPE in fp16, the STN in fp32
    proto = onnx.load(str(path))
    fp16_inits = [i for i in proto.graph.initializer if i.data_type == onnx.TensorProto.FLOAT16]
    assert len(fp16_inits) > 10  # the SPPE's weights are stored in float16
    assert read_metadata(path).half
    assert proto.graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT  # heatmaps stay float32


def test_half_export_leaves_the_model_float32():
    model, cfg = small_model(False), small_config(False)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    export_onnx(model, None, config=cfg, half=True)
    after = model.state_dict()
    assert all(after[k].dtype == v.dtype and torch.equal(after[k], v) for k, v in before.items())
