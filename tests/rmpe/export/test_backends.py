"""The onnxruntime / OpenVINO backends equal the torch path on real crops and on a real video."""
import importlib.util
import json

import cv2
import numpy as np
import pytest
import torch

from rmpe.crop import crop_images, frames_to_tensor
from rmpe.errors import RMPEError
from rmpe.export.adapter import load_runtime_model
from rmpe.export.runtime import OnnxRuntimeBackend, check_backend
from rmpe.geometry import compose_crop_matrices, crop_boxes, crop_matrices
from tests.shared import SHARED_DATA, needs

COCO = SHARED_DATA / "mmpose_coco"
VIDEO = SHARED_DATA / "videos" / "vtest_pets2009_480x360.avi"

BACKENDS = ["onnxruntime"] + (["openvino"] if importlib.util.find_spec("openvino") else [])
#: OpenVINO's CPU plugin (f32 precision hint) reorders sums like onnxruntime does: same tolerances.
HEATMAP_TOL = 1e-4
KEYPOINT_TOL = 0.01


def _real_people():
    """Images (BGR) of mmpose's COCO sample and the GT boxes (xyxy) of its people with keypoints."""
    ann = json.loads((COCO / "test_coco.json").read_text())
    files = {im["id"]: im["file_name"] for im in ann["images"]}
    ids = sorted(files)
    images = [cv2.imread(str(COCO / files[i])) for i in ids]
    index, boxes = [], []
    for a in ann["annotations"]:
        if a["num_keypoints"] > 0:
            x, y, w, h = a["bbox"]
            index.append(ids.index(a["image_id"]))
            boxes.append([x, y, x + w, y + h])
    return images, np.array(index), np.array(boxes, np.float32)


@needs(COCO / "test_coco.json")
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("stn", [False, True])
def test_backend_equals_torch_on_real_crops(exported, backend, stn):
    model, cfg, _, path = exported[stn]
    images, index, boxes = _real_people()
    runtime_model = load_runtime_model(str(path), backend, cfg)
    tensor, _ = frames_to_tensor(images, dtype=torch.uint8)
    idx = torch.as_tensor(index)
    m = crop_matrices(crop_boxes(torch.as_tensor(boxes), 0.75, 1.25), (128, 96))
    crops = crop_images(tensor, idx, m, (128, 96))
    with torch.no_grad():
        if stn:  # theta from the runtime, and crop' cut once from the images as the torch path does
            theta_t, theta_r = model.predict_theta(crops), runtime_model.predict_theta(crops)
            assert (theta_t - theta_r).abs().max() < 1e-4
            assert (theta_t - torch.eye(3)).abs().max() > 1  # a real, non-identity transform
            crops = crop_images(tensor, idx, compose_crop_matrices(m, theta_t), (128, 96))
        ref, ref_feats = model._sppe_heatmaps(crops, flip=False, features=True)
        got, got_feats = runtime_model._sppe_heatmaps(crops, flip=False, features=True)
    assert float(ref.abs().max()) > 0.05
    assert (got - ref).abs().max() <= HEATMAP_TOL
    assert got_feats.shape == ref_feats.shape == (len(boxes), 192)  # ResNet-18: 3 parts x 64 channels
    assert (got_feats - ref_feats).abs().max() <= HEATMAP_TOL  # the tracker's appearance features
    for flip in (False, True):
        kt, st = model.predict(images, index, boxes, flip=flip)
        kr, sr = runtime_model.predict(images, index, boxes, flip=flip)
        assert kt.shape == (len(boxes), 17, 2)
        assert (kt - kr).abs().max() <= KEYPOINT_TOL
        assert (st - sr).abs().max() <= HEATMAP_TOL


def test_fixed_batch_graph_is_padded(tmp_path):
    from rmpe.export.onnx import export_onnx

    from .conftest import small_config, small_model

    model = small_model(False)
    path = tmp_path / "b4.onnx"
    export_onnx(model, str(path), config=small_config(False), batch=4)
    runtime = OnnxRuntimeBackend(str(path))
    x = torch.rand(6, 3, 128, 96, generator=torch.Generator().manual_seed(0))  # one full chunk and one padded
    with torch.no_grad():
        ref = model._sppe_heatmaps(x, flip=False)[0].numpy()
    got = runtime.heatmaps(x.numpy())
    assert got.shape == ref.shape and np.abs(got - ref).max() <= HEATMAP_TOL


def _demo_json(cfg_ckpt_backend, tmp_path, name, dets, extra=()):
    from rmpe.cli.demo import main as demo_main

    ckpt, backend = cfg_ckpt_backend
    js = tmp_path / f"{name}.json"
    code = demo_main(["--checkpoint", str(ckpt), "--backend", backend, "--device", "cpu", "--quiet",
                      "--video", str(VIDEO), "--detector", str(dets), "--json", str(js), "--max-frames", "3",
                      "--batch", "2", "--flip", "--nms", "none", *extra])
    assert code == 0
    return json.loads(js.read_text())


@needs(VIDEO)
@pytest.mark.parametrize("backend", BACKENDS)
def test_demo_json_equal_across_backends(exported, tmp_path, backend):
    """rmpe-demo on 3 frames of a real video: --backend <runtime> gives torch's JSON within 0.01 px."""
    _, _, ckpt, path = exported[True]
    dets = _demo_detections(tmp_path)
    ref = _demo_json((ckpt, "torch"), tmp_path, "torch", dets)
    got = _demo_json((path, backend), tmp_path, backend, dets)
    _assert_same_people(ref, got)


#: four people a frame on 3 frames of the real video, moving right by 3 px a frame
DEMO_BOXES = [[40, 60, 60, 150], [200, 90, 55, 140], [330, 40, 50, 130], [100, 200, 70, 150]]


def _demo_detections(tmp_path):
    dets = tmp_path / "dets.json"
    dets.write_text(json.dumps([{"image_id": f, "category_id": 1, "bbox": [b[0] + 3 * f, b[1], b[2], b[3]],
                                 "score": 0.9 - 0.1 * j} for f in range(3) for j, b in enumerate(DEMO_BOXES)]))
    return dets


def _assert_same_people(ref, got):
    """Two rmpe-demo JSONs hold the same people: keypoints within KEYPOINT_TOL px, scores within 1e-4."""
    assert len(ref) == len(got) == 12  # 3 frames x 4 boxes (no pose NMS)
    assert {r["image_id"] for r in ref} == {"0.jpg", "1.jpg", "2.jpg"}
    for a, b in zip(ref, got):
        assert a["image_id"] == b["image_id"]
        ka, kb = np.array(a["keypoints"]).reshape(-1, 3), np.array(b["keypoints"]).reshape(-1, 3)
        assert np.abs(ka[:, :2] - kb[:, :2]).max() <= KEYPOINT_TOL
        assert np.abs(ka[:, 2] - kb[:, 2]).max() <= 1e-4
        assert a["score"] == pytest.approx(b["score"], abs=1e-4)


def _one_line(capsys, main, args, *needles):
    assert main(args) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    for n in needles:
        assert n in lines[0]


def test_bad_backend_inputs_exit_2(exported, tmp_path, capsys, monkeypatch):
    from rmpe.cli.demo import main as demo_main
    from rmpe.cli.eval import main as eval_main

    import rmpe.pipeline

    def no_model(*a, **k):
        raise AssertionError("a model was loaded although the input is bad")

    monkeypatch.setattr(rmpe.pipeline, "load_model", no_model)
    _, _, ckpt, path = exported[False]
    (tmp_path / "d.json").write_text("[]")
    base = ["--image", str(COCO / "000000000785.jpg"), "--detector", str(tmp_path / "d.json"), "--device", "cpu"]
    _one_line(capsys, demo_main, base + ["--checkpoint", str(path), "--backend", "torch"],
              "rmpe-demo: error:", "ONNX file", "--backend onnxruntime")
    _one_line(capsys, demo_main, base + ["--checkpoint", str(path)], "rmpe-demo: error:", "ONNX file")
    _one_line(capsys, demo_main, base + ["--checkpoint", str(ckpt), "--backend", "onnxruntime"],
              "rmpe-demo: error:", "rmpe-export")
    ev = ["--ann", str(COCO / "test_coco.json"), "--images", str(COCO), "--device", "cpu"]
    _one_line(capsys, eval_main, ev + ["--checkpoint", str(ckpt), "--backend", "openvino"],
              "rmpe-eval: error:", "rmpe-export")


def test_missing_runtime_package_is_one_line(monkeypatch, tmp_path):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "openvino" else real(name, *a))
    with pytest.raises(RMPEError, match="needs the openvino package"):
        check_backend("openvino", str(tmp_path / "m.onnx"))


def test_onnx_without_rmpe_metadata_is_refused(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    path = tmp_path / "foreign.onnx"
    onnx.save(helper.make_model(graph), str(path))
    with pytest.raises(RMPEError, match="not written by rmpe-export"):
        OnnxRuntimeBackend(str(path))
    (tmp_path / "junk.onnx").write_bytes(b"not a model")
    with pytest.raises(RMPEError, match="not a readable ONNX file"):
        OnnxRuntimeBackend(str(tmp_path / "junk.onnx"))


def test_pose_estimator_backend(exported):
    from rmpe import PoseEstimator

    _, _, ckpt, path = exported[True]
    images, index, boxes = _real_people()
    people_boxes = boxes[index == 0]
    dets = lambda frames, image_ids=None: [  # noqa: E731 - a detector callable with fixed boxes
        type("D", (), {"boxes": people_boxes, "scores": np.full(len(people_boxes), 0.9, np.float32)})()
        for _ in frames]
    torch_est = PoseEstimator(overrides=["model.name=fastpose_se18", "model.input_size=[128,96]",
                                         "model.heatmap_size=[32,24]", "model.stn=true"],
                              checkpoint=str(ckpt), detector=dets, device="cpu")
    ort_est = PoseEstimator(checkpoint=str(path), detector=dets, device="cpu", backend="onnxruntime")
    ref, got = torch_est.predict(images[0]), ort_est.predict(images[0])
    assert len(ref) == len(got) > 0
    for a, b in zip(ref, got):
        assert np.abs(a.keypoints[:, :2] - b.keypoints[:, :2]).max() <= KEYPOINT_TOL
    # the tracker's appearance features come through the runtime too
    torch_est.pipeline.features = ort_est.pipeline.features = True
    ref, got = torch_est.predict(images[0]), ort_est.predict(images[0])
    for a, b in zip(ref, got):
        assert a.feature is not None and b.feature is not None
        assert np.abs(np.asarray(a.feature) - np.asarray(b.feature)).max() <= HEATMAP_TOL


@needs(COCO / "test_coco.json")
def test_eval_same_results_across_backends(exported, tmp_path):
    """rmpe-eval with GT boxes on the real COCO sample: the onnxruntime results equal torch's."""
    from rmpe.cli.eval import main as eval_main

    _, _, ckpt, path = exported[True]
    results = {}
    for backend, weights in (("torch", ckpt), ("onnxruntime", path)):
        out = tmp_path / f"{backend}.json"
        assert eval_main(["--checkpoint", str(weights), "--backend", backend, "--ann", str(COCO / "test_coco.json"),
                          "--images", str(COCO), "--boxes", "gt", "--device", "cpu", "--quiet", "--nms", "none",
                          "--out", str(out)]) == 0
        results[backend] = json.loads(out.read_text())
    ref, got = results["torch"], results["onnxruntime"]
    assert len(ref) == len(got) == 12
    for a, b in zip(ref, got):
        assert a["image_id"] == b["image_id"]
        ka, kb = np.array(a["keypoints"]).reshape(-1, 3), np.array(b["keypoints"]).reshape(-1, 3)
        assert np.abs(ka[:, :2] - kb[:, :2]).max() <= KEYPOINT_TOL


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("stn", [False, True])
def test_features_output_is_compiled_only_when_asked_for(exported, backend, stn):
    """heatmaps() runs a graph without the features output (cheaper); heatmaps_and_features()
    a second one with it; both give the same heatmaps."""
    from rmpe.export.runtime import build_runtime

    rt = build_runtime(backend, str(exported[stn][3]))
    x = np.random.default_rng(0).random((3, 3, 128, 96), dtype=np.float32)
    only = rt.heatmaps(x)
    assert list(rt._graphs) == [False]  # the features graph is not even compiled yet
    both, feats = rt.heatmaps_and_features(x)
    assert set(rt._graphs) == {False, True} and feats is not None and feats.shape[0] == 3
    outputs = {k: len(g.outputs if backend == "openvino" else g.get_outputs()) for k, g in rt._graphs.items()}
    assert outputs == {False: 1, True: 2}
    np.testing.assert_allclose(only, both, rtol=0, atol=1e-5)
