"""The CUDA side of the export: onnxruntime's CUDA provider and TensorRT engines (skipped on the CPU)."""
import importlib.util

import numpy as np
import pytest
import torch

from rmpe.export.onnx import export_onnx

from .conftest import small_config, small_model

CUDA = torch.cuda.is_available()


def _has_ort_cuda() -> bool:
    import onnxruntime as ort

    return "CUDAExecutionProvider" in ort.get_available_providers()


@pytest.mark.skipif(not CUDA, reason="needs CUDA (an NVIDIA GPU); run benchmarks/gpu_suite.sh on one")
@pytest.mark.skipif(not _has_ort_cuda(), reason="needs onnxruntime-gpu (CUDAExecutionProvider)")
def test_onnxruntime_cuda_backend_equals_torch(exported):
    from rmpe.export.runtime import OnnxRuntimeBackend

    model, _, _, path = exported[False]
    runtime = OnnxRuntimeBackend(str(path), device="cuda")
    assert runtime.providers[-1][0] == "CPUExecutionProvider" and len(runtime.providers) >= 2
    x = torch.rand(8, 3, 128, 96, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ref = model._sppe_heatmaps(x, flip=False)[0].numpy()
    # cuDNN may use TF32 for convolutions: 1e-3 on maps that reach about 1
    assert np.abs(runtime.heatmaps(x.numpy()) - ref).max() <= 1e-3


@pytest.mark.skipif(not CUDA, reason="needs CUDA (an NVIDIA GPU); run benchmarks/gpu_suite.sh on one")
@pytest.mark.skipif(importlib.util.find_spec("tensorrt") is None, reason="needs the tensorrt package (pip install -e '.[tensorrt]')")
@pytest.mark.parametrize("fp16", [False, True])
def test_tensorrt_engine_runs_and_matches_torch(tmp_path, fp16):
    import tensorrt as trt

    from rmpe.export.tensorrt import build_engine

    model, cfg = small_model(True), small_config(True)
    proto, _ = export_onnx(model, None, config=cfg)
    plan = tmp_path / "m.plan"
    build_engine(proto.SerializeToString(), str(plan), input_name="crops", input_shape=(3, 128, 96), fp16=fp16,
                 max_batch=16, opt_batch=8)
    engine = trt.Runtime(trt.Logger(trt.Logger.WARNING)).deserialize_cuda_engine(plan.read_bytes())
    context = engine.create_execution_context()
    x = torch.rand(5, 3, 128, 96, generator=torch.Generator().manual_seed(0))
    xc = x.cuda()
    heatmaps = torch.empty(5, 17, 32, 24, device="cuda")
    theta = torch.empty(5, 3, 3, device="cuda")
    features = torch.empty(5, model.sppe.feature_channels, device="cuda")
    context.set_input_shape("crops", tuple(xc.shape))
    for name, t in (("crops", xc), ("heatmaps", heatmaps), ("theta", theta), ("features", features)):
        context.set_tensor_address(name, t.data_ptr())
    stream = torch.cuda.Stream()
    assert context.execute_async_v3(stream.cuda_stream)
    stream.synchronize()
    from rmpe.export.onnx import ExportGraph

    with torch.no_grad():
        ref_hm, ref_theta, _, _ = ExportGraph(model).eval()(x)
    tol = 3e-2 if fp16 else 1e-3
    assert (heatmaps.cpu() - ref_hm).abs().max() <= tol
    assert (theta.cpu() - ref_theta).abs().max() <= 1e-2


@pytest.mark.skipif(CUDA, reason="checks the no-GPU refusal; on a GPU the suite itself runs")
def test_gpu_suite_refuses_cleanly_without_cuda(tmp_path):
    import subprocess
    from pathlib import Path

    root = Path(__file__).resolve().parents[3]
    results = tmp_path / "results.md"
    proc = subprocess.run(["bash", str(root / "benchmarks" / "gpu_suite.sh"), str(results)], cwd=root,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "gpu_suite.sh: error: no CUDA device is visible (torch.cuda.is_available() is False); "
        "run it on a machine with an NVIDIA GPU"]
    assert not results.exists()
