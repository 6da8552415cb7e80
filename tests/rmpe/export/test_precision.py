"""--half on the CPU: bf16 for torch (autocast + channels_last) and OpenVINO (precision hint),
fp32 with one line where bf16 is unsupported or the backend has none; geometry stays float32.

Stated tolerance (docs/inference.md, "CPU real time"): bf16 heatmaps within 2 % of the fp32
heatmaps' peak; every joint whose fp32 peak stands clear of the rest of its map (by more than
twice the measured heatmap error) decodes to the same heatmap pixel, so its keypoint moves by at
most the quarter-pixel step (0.5 heatmap px); on real crops at least 90 % of all keypoints stay
within 0.5 heatmap px.
"""
import importlib.util

import numpy as np
import pytest
import torch

from rmpe.crop import crop_images, frames_to_tensor
from rmpe.geometry import crop_boxes, crop_matrices
from rmpe.precision import cpu_flags, cpu_has_bf16, resolve_precision
from tests.shared import needs

from .test_backends import BACKENDS as RUNTIMES
from .test_backends import COCO, VIDEO, _assert_same_people, _demo_detections, _demo_json, _real_people

HAS_BF16 = cpu_has_bf16()
HAS_OPENVINO = importlib.util.find_spec("openvino") is not None
RELATIVE_HEATMAP_TOL = 0.02


def _clear_peaks(hm: torch.Tensor, margin: torch.Tensor) -> torch.Tensor:
    """(N,K) True where the map's maximum exceeds every value outside its 3x3 neighbourhood by ``margin``.

    A plain loop over maps (the reference, independent of the codec)."""
    n, k, h, w = hm.shape
    out = torch.zeros(n, k, dtype=torch.bool)
    for i in range(n):
        for j in range(k):
            m = hm[i, j]
            y, x = divmod(int(torch.argmax(m)), w)
            rest = m.clone()
            rest[max(0, y - 1):y + 2, max(0, x - 1):x + 2] = -float("inf")
            out[i, j] = bool(m[y, x] - rest.max() > margin)
    return out


def _check_bf16_against_fp32(ref_hm, got_hm, codec):
    scale = float(ref_hm.abs().max())
    err = float((got_hm - ref_hm).abs().max())
    assert scale > 0.05
    assert err <= RELATIVE_HEATMAP_TOL * scale, (err, scale)
    assert err > 0  # it really ran in reduced precision
    c32, _ = codec.decode(ref_hm)
    cbf, _ = codec.decode(got_hm)
    dist = (cbf - c32).norm(dim=-1)  # heatmap px
    clear = _clear_peaks(ref_hm, 2 * err)
    assert clear.float().mean() > 0.3  # the check below has substance
    assert float(dist[clear].max()) <= 0.5 * 2 ** 0.5 + 1e-5  # same pixel, at most the quarter steps in x and y
    assert float((dist <= 0.5).float().mean()) >= 0.9


def _real_crops():
    images, index, boxes = _real_people()
    tensor, _ = frames_to_tensor(images, dtype=torch.uint8)
    m = crop_matrices(crop_boxes(torch.as_tensor(boxes), 0.75, 1.25), (128, 96))
    return images, index, boxes, crop_images(tensor, torch.as_tensor(index), m, (128, 96))


def test_resolve_precision_table():
    assert resolve_precision(False, "cpu", "torch").name == "fp32"
    assert resolve_precision(True, "cuda", "torch").name == "fp16"
    assert resolve_precision(True, "cpu", "torch", has_bf16=True).name == "bf16"
    assert resolve_precision(True, "cpu", "openvino", has_bf16=True).name == "bf16"
    ort = resolve_precision(True, "cpu", "onnxruntime", has_bf16=True)
    assert ort.name == "fp32" and "onnxruntime" in ort.note and "fp32" in ort.note
    for backend in ("torch", "openvino"):
        fallback = resolve_precision(True, "cpu", backend, has_bf16=False)
        assert fallback.name == "fp32"
        assert "no bf16" in fallback.note and "fp32" in fallback.note and "\n" not in fallback.note


def test_cpu_flags_from_cpuinfo(tmp_path, monkeypatch):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu sse avx512f amx_bf16 avx2\n\nprocessor\t: 1\nflags\t: fpu\n")
    flags = cpu_flags(str(info))
    assert "amx_bf16" in flags and "sse" in flags and len(flags) == 5
    assert cpu_has_bf16(flags)
    assert not cpu_has_bf16(frozenset({"avx2", "avx512f"}))
    monkeypatch.setenv("RMPE_NO_BF16", "1")
    assert not cpu_has_bf16(flags)


def test_fallback_line_and_fp32(monkeypatch, capsys):
    from rmpe.config import load_config
    from rmpe.pipeline import PosePipeline

    from .conftest import SMALL, small_model

    monkeypatch.setenv("RMPE_NO_BF16", "1")
    cfg = load_config(overrides=SMALL + ["inference.half=true", "pose_nms.type=none"])
    pipe = PosePipeline.from_config(cfg, model=small_model(False), detector=lambda images, image_ids=None: [])
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["rmpe: --half: this CPU has no bf16 instructions (avx512_bf16 / amx_bf16); running fp32"]
    assert pipe.precision.name == "fp32" and pipe.amp is False


@pytest.mark.skipif(not HAS_BF16, reason="this CPU has no bf16 instructions (avx512_bf16 / amx_bf16)")
@needs(COCO / "test_coco.json")
def test_torch_bf16_keypoints_match_fp32_on_real_crops(capsys):
    from rmpe.config import load_config
    from rmpe.pipeline import PosePipeline

    from .conftest import SMALL, small_model

    images, index, boxes, crops = _real_crops()
    model = small_model(False)
    with torch.no_grad():
        ref, _ = model._sppe_heatmaps(crops, flip=False)
    cfg = load_config(overrides=SMALL + ["inference.half=true", "pose_nms.type=none"])
    pipe = PosePipeline.from_config(cfg, model=model, detector=lambda images, image_ids=None: [])
    assert "precision bf16 (torch autocast, channels_last" in capsys.readouterr().err
    assert pipe.amp == torch.bfloat16
    assert model.sppe.conv_out.weight.is_contiguous(memory_format=torch.channels_last)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        got, _ = model._sppe_heatmaps(crops, flip=False)
    assert got.dtype == torch.float32  # _sppe_heatmaps hands back float32 maps
    _check_bf16_against_fp32(ref, got, model.codec)
    # the whole predict path: keypoints and scores float32, image px; within the same bounds
    k32, s32 = model.predict(images, index, boxes)
    kbf, sbf = model.predict(images, index, boxes, amp=torch.bfloat16)
    assert kbf.dtype == sbf.dtype == torch.float32
    assert float((sbf - s32).abs().max()) <= RELATIVE_HEATMAP_TOL * float(ref.abs().max())
    assert float(((kbf - k32).norm(dim=-1) > 0).float().mean()) > 0  # reduced precision reached predict


def test_stn_and_geometry_stay_float32_under_bf16_autocast():
    from .conftest import small_model

    model = small_model(True)
    crops = torch.rand(3, 3, 128, 96)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        theta = model.predict_theta(crops)
        m = crop_matrices(crop_boxes(torch.tensor([[10.0, 20.0, 60.0, 120.0]] * 3), 0.75, 1.25), (128, 96))
        crops2 = crop_images(torch.randint(0, 255, (1, 3, 200, 150), dtype=torch.uint8), torch.zeros(3).long(), m,
                             (128, 96))
    assert theta.dtype == torch.float32 and m.dtype == torch.float32 and crops2.dtype == torch.float32
    with torch.no_grad():
        ref = model.predict_theta(crops)
    assert torch.equal(theta, ref)  # not merely float32 in the end: computed in float32


@pytest.mark.skipif(not (HAS_BF16 and HAS_OPENVINO), reason="needs openvino and a CPU with bf16 instructions")
@needs(COCO / "test_coco.json")
def test_openvino_bf16_hint_and_keypoints(exported):
    from rmpe.export.runtime import OpenVINOBackend

    model, cfg, _, path = exported[False]
    _, _, _, crops = _real_crops()
    fp32 = OpenVINOBackend(str(path), precision="fp32")
    bf16 = OpenVINOBackend(str(path), precision="bf16")
    assert "'bfloat16'" in str(bf16._graph(features=False).get_property("INFERENCE_PRECISION_HINT"))
    assert "'float32'" in str(fp32._graph(features=False).get_property("INFERENCE_PRECISION_HINT"))
    ref = torch.from_numpy(fp32.heatmaps(crops.numpy()))
    got = torch.from_numpy(bf16.heatmaps(crops.numpy()))
    _check_bf16_against_fp32(ref, got, model.codec)


@pytest.mark.skipif(not HAS_OPENVINO, reason="needs openvino")
def test_openvino_stn_theta_compiled_fp32(exported):
    from rmpe.export.runtime import OpenVINOBackend

    bf16 = OpenVINOBackend(str(exported[True][3]), precision="bf16")
    assert "'float32'" in str(bf16._theta.get_property("INFERENCE_PRECISION_HINT"))
    with pytest.raises(Exception, match="fp32 or bf16"):
        OpenVINOBackend(str(exported[True][3]), precision="fp16")


@needs(VIDEO)
@pytest.mark.parametrize("backend", ["torch"] + RUNTIMES)
def test_demo_json_with_half_within_stated_tolerance(exported, tmp_path, backend, capsys):
    """rmpe-demo --half on 3 frames of a real video against the fp32 torch JSON: the same people
    in the same order; where bf16 ran, at least 90 % of the keypoints within 0.5 heatmap px
    (in image px: 0.5 x the person's crop height / the heatmap height), keypoint scores within
    2 % of the heatmaps' peak; where it did not (onnxruntime, or a CPU without bf16), the fp32
    JSON within 0.01 px."""
    _, cfg, ckpt, path = exported[True]
    dets = _demo_detections(tmp_path)
    ref = _demo_json((ckpt, "torch"), tmp_path, "fp32", dets)
    capsys.readouterr()
    got = _demo_json((ckpt if backend == "torch" else path, backend), tmp_path, f"{backend}_half", dets,
                     extra=["--half"])
    bf16 = "precision bf16" in capsys.readouterr().err
    assert bf16 == (HAS_BF16 and backend != "onnxruntime")
    if not bf16:
        _assert_same_people(ref, got)
        return
    assert [(r["image_id"], r["box"]) for r in ref] == [(g["image_id"], g["box"]) for g in got]
    hm_h = cfg.model.heatmap_size[0]
    peak = max(max(np.array(r["keypoints"]).reshape(-1, 3)[:, 2]) for r in ref)
    within, total = 0, 0
    for a, b in zip(ref, got):
        x, y, w, h = a["box"]
        crop = crop_boxes(torch.tensor([[x, y, x + w, y + h]]), cfg.data.aspect_ratio, cfg.data.box_scale)
        px_per_hm = float(crop[0, 3] - crop[0, 1]) / hm_h
        ka, kb = np.array(a["keypoints"]).reshape(-1, 3), np.array(b["keypoints"]).reshape(-1, 3)
        within += int((np.linalg.norm(ka[:, :2] - kb[:, :2], axis=1) <= 0.5 * px_per_hm + 1e-3).sum())
        total += len(ka)
        assert np.abs(ka[:, 2] - kb[:, 2]).max() <= RELATIVE_HEATMAP_TOL * peak
    assert within / total >= 0.9, (within, total)
