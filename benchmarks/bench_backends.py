"""Backend throughput: the pose network on torch, onnxruntime and OpenVINO (CPU), and on CUDA
(torch fp32/fp16/bf16 channels_last with and without torch.compile, onnxruntime-CUDA,
TensorRT fp16); plus end-to-end demo frames per second per backend.

    python benchmarks/bench_backends.py --part cpu --threads 1,2            # the CPU table (BENCHMARKS.md)
    python benchmarks/bench_backends.py --part cpu-demo --threads 2          # demo fps per backend, CPU
    python benchmarks/bench_backends.py --part gpu --out results.md          # benchmarks/gpu_suite.sh runs this

What is timed: crops (N,3,H,W) float32 RGB in [0, 1] -> heatmaps, normalisation included, on
random weights (speed does not depend on the values); median seconds per batch after a
warm-up, reported as crops per second. Each backend runs the same exported graph
(``rmpe-export``'s, without the flip test). Figures go to BENCHMARKS.md ("Backends"); they
are never asserted by tests.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rmpe.config import load_config  # noqa: E402
from rmpe.model import RMPEModel  # noqa: E402

MODELS = {"fastpose_se18": (128, 96), "fastpose_se50": (256, 192)}
VIDEO = ROOT.parent / "shared" / "data" / "videos" / "vtest_pets2009_480x360.avi"


def _parse_list(text: str) -> List[int]:
    return [int(v) for v in text.split(",") if v.strip()]


def timed(fn: Callable[[], object], min_time: float, min_iters: int = 3, warmup: int = 2,
          sync: Callable[[], None] = lambda: None) -> float:
    """Median seconds of ``fn()`` over at least ``min_iters`` runs and ``min_time`` seconds."""
    for _ in range(warmup):
        fn()
    sync()
    times: List[float] = []
    start_all = time.perf_counter()
    while len(times) < min_iters or time.perf_counter() - start_all < min_time:
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def arch(name: str, stn: bool = False) -> List[str]:
    """Config overrides for model ``name`` at its usual crop size."""
    h, w = MODELS[name]
    return [f"model.name={name}", f"model.input_size=[{h},{w}]", f"model.heatmap_size=[{h // 4},{w // 4}]",
            f"model.stn={str(stn).lower()}"]


def build(name: str, stn: bool = False) -> Tuple[RMPEModel, object]:
    """A random-weight RMPE model of ``name`` at its usual crop size, and its config."""
    cfg = load_config(overrides=arch(name, stn) + ["device=cpu"])
    torch.manual_seed(0)
    return RMPEModel.from_config(cfg, load_init=False).eval(), cfg


def export(model: RMPEModel, cfg, folder: str, name: str, **kwargs) -> str:
    from rmpe.export.onnx import export_onnx

    path = os.path.join(folder, f"{name}.onnx")
    if not os.path.exists(path):
        export_onnx(model, path, config=cfg, **kwargs)
    return path


# ------------------------------------------------------------------------------------ CPU


def cpu_table(models: Sequence[str], batches: Sequence[int], threads: Sequence[int], min_time: float) -> str:
    """Markdown table: crops/s per model, batch, threads and backend, with the ratios to torch."""
    from rmpe.export.runtime import OnnxRuntimeBackend, OpenVINOBackend

    rows = ["| model | input | threads | batch | torch crops/s | onnxruntime crops/s | OpenVINO crops/s | "
            "ORT / torch | OpenVINO / torch |", "|---|---|---|---|---|---|---|---|---|"]
    with tempfile.TemporaryDirectory(prefix="rmpe-bench-") as folder:
        for name in models:
            model, cfg = build(name)
            path = export(model, cfg, folder, name)
            h, w = MODELS[name]
            for t in threads:
                torch.set_num_threads(t)
                ort_rt = OnnxRuntimeBackend(path, threads=t)
                ov_rt = OpenVINOBackend(path, threads=t)
                for b in batches:
                    x = torch.rand(b, 3, h, w)
                    xn = x.numpy()
                    with torch.inference_mode():
                        s_torch = timed(lambda: model._sppe_heatmaps(x, False)[0], min_time)
                    s_ort = timed(lambda: ort_rt.heatmaps(xn), min_time)
                    s_ov = timed(lambda: ov_rt.heatmaps(xn), min_time)
                    fps = [b / s for s in (s_torch, s_ort, s_ov)]
                    rows.append(f"| {name} | {h}x{w} | {t} | {b} | {fps[0]:.1f} | {fps[1]:.1f} | {fps[2]:.1f} | "
                                f"{fps[1] / fps[0]:.2f} | {fps[2] / fps[0]:.2f} |")
                    print(rows[-1], flush=True)
    return "\n".join(rows)


def _video_dets(path: str, frames: int, people: int, size: Tuple[int, int]) -> None:
    """A detection file with ``people`` fixed boxes on every frame (image_id = frame index)."""
    width, height = size
    out = []
    for i in range(frames):
        for j in range(people):
            bw, bh = width / (people + 1) * 0.6, height * 0.5
            x = width * (j + 0.5) / (people + 1) + 2 * (i % 5)
            out.append({"image_id": i, "category_id": 1, "bbox": [x, height * 0.2, bw, bh], "score": 0.9 - 0.05 * j})
    Path(path).write_text(json.dumps(out))


def demo_fps(video: str, checkpoint: str, backend: str, detector: str, frames: int, device: str = "cpu",
             overrides: Sequence[str] = (), batch: int = 8) -> float:
    """Frames per second of the pipeline (reader thread, detection, crops, network, decoding,
    pose NMS) over ``frames`` frames, the first batch excluded (warm-up)."""
    from rmpe.api import PoseEstimator
    from rmpe.sources import VideoSource

    est = PoseEstimator(checkpoint=checkpoint, detector=detector, device=device, backend=backend,
                        overrides=list(overrides), batch=batch)
    start, count = None, 0
    for frame, _ in est.run(VideoSource(video)):
        if frame.index == batch - 1:
            start, count = time.perf_counter(), 0
            continue
        count += 1
        if frame.index >= frames - 1:
            break
    return count / (time.perf_counter() - start) if start and count else float("nan")


def cpu_demo(model_name: str, threads: int, frames: int, people: int) -> str:
    """Markdown table: end-to-end demo fps per backend on vtest_pets2009 (CPU)."""
    from rmpe.checkpoints import save_model_checkpoint

    torch.set_num_threads(threads)
    rows = ["| video | model | people/frame | threads | backend | frames/s |", "|---|---|---|---|---|---|"]
    with tempfile.TemporaryDirectory(prefix="rmpe-bench-") as folder:
        model, cfg = build(model_name)
        ckpt = os.path.join(folder, "m.pth")
        save_model_checkpoint(ckpt, model, config=cfg.to_dict())
        onnx_path = export(model, cfg, folder, model_name)
        dets = os.path.join(folder, "dets.json")
        _video_dets(dets, frames, people, (480, 360))
        os.environ["OMP_NUM_THREADS"] = str(threads)
        for backend, path in (("torch", ckpt), ("onnxruntime", onnx_path), ("openvino", onnx_path)):
            fps = demo_fps(str(VIDEO), path, backend, dets, frames, overrides=arch(model_name))
            h, w = MODELS[model_name]
            rows.append(f"| {VIDEO.name} | {model_name} {h}x{w} | {people} | {threads} | {backend} | {fps:.1f} |")
            print(rows[-1], flush=True)
    return "\n".join(rows)


# ------------------------------------------------------------------------------------ GPU


def gpu_tables(batches: Sequence[int], min_time: float, frames: int, people: int, detector: Optional[str]) -> str:
    """The GPU suite's figures (markdown): torch precisions x compile, onnxruntime-CUDA,
    TensorRT fp16 for fastpose_se50 256x192, and the end-to-end demo on a 720p video."""
    if not torch.cuda.is_available():
        raise SystemExit("bench_backends --part gpu: no CUDA device is visible (torch.cuda.is_available() is False)")
    dev = torch.device("cuda")
    sync = lambda: torch.cuda.synchronize(dev)  # noqa: E731
    name = "fastpose_se50"
    h, w = MODELS[name]
    model, cfg = build(name)
    out = [f"GPU: {torch.cuda.get_device_name(dev)}, torch {torch.__version__}, CUDA {torch.version.cuda}", "",
           "| model | backend | precision | compile | " + " | ".join(f"batch {b} crops/s" for b in batches) + " |",
           "|---|---|---|---|" + "---|" * len(batches)]
    net = model.sppe.to(dev).to(memory_format=torch.channels_last)
    for precision, dtype in (("fp32", None), ("fp16", torch.float16), ("bf16", torch.bfloat16)):
        for compiled in (False, True):
            # one compile per precision for every batch size (dynamic shapes): autotuning modes would
            # not fit the suite's 8 minutes
            fn = torch.compile(net, dynamic=True) if compiled else net
            cells = []
            for b in batches:
                x = torch.randn(b, 3, h, w, device=dev).contiguous(memory_format=torch.channels_last)
                ctx = (torch.autocast("cuda", dtype=dtype) if dtype is not None else torch.autocast("cuda", enabled=False))
                try:
                    with torch.inference_mode(), ctx:
                        s = timed(lambda: fn(x), min_time, warmup=3 if compiled else 2, sync=sync)
                    cells.append(f"{b / s:.0f}")
                except Exception as exc:  # a compile failure is a figure too
                    cells.append(f"failed ({type(exc).__name__})")
            out.append(f"| {name} {h}x{w} | torch | {precision} channels_last | {'yes' if compiled else 'no'} | "
                       + " | ".join(cells) + " |")
            print(out[-1], flush=True)
    model.cpu()
    with tempfile.TemporaryDirectory(prefix="rmpe-bench-") as folder:
        path = export(model, cfg, folder, name)
        parts = (("onnxruntime-CUDA", lambda: _ort_cuda_row(path, name, h, w, batches, min_time)),
                 ("TensorRT", lambda: _tensorrt_row(path, folder, name, h, w, batches, min_time)),
                 ("demo", lambda: "\n" + _gpu_demo(model, cfg, folder, frames, people, detector)))
        for label, part in parts:  # one failing part must not hide the others' figures
            try:
                out.append(part())
            except Exception as exc:
                out.append(f"| {name} {h}x{w} | {label} | failed: {type(exc).__name__}: {str(exc)[:200]} |")
            print(out[-1], flush=True)
    return "\n".join(out)


def _ort_cuda_row(path: str, name: str, h: int, w: int, batches: Sequence[int], min_time: float) -> str:
    import onnxruntime as ort

    if "CUDAExecutionProvider" not in ort.get_available_providers():
        return f"| {name} {h}x{w} | onnxruntime-CUDA | fp32 | no | not installed (onnxruntime-gpu) |"
    session = ort.InferenceSession(path, providers=["CUDAExecutionProvider", "CPUExecutionProvider"])
    cells = []
    for b in batches:
        x = np.random.default_rng(0).random((b, 3, h, w), dtype=np.float32)
        s = timed(lambda: session.run(None, {"crops": x}), min_time)  # host -> device copies included
        cells.append(f"{b / s:.0f}")
    return f"| {name} {h}x{w} | onnxruntime-CUDA | fp32 (host I/O) | no | " + " | ".join(cells) + " |"


def _tensorrt_row(path: str, folder: str, name: str, h: int, w: int, batches: Sequence[int], min_time: float) -> str:
    try:
        import tensorrt as trt
    except ImportError:
        return f"| {name} {h}x{w} | TensorRT | fp16 | no | not installed (tensorrt) |"
    from rmpe.export.tensorrt import build_engine

    plan = os.path.join(folder, f"{name}.plan")
    with open(path, "rb") as fh:
        build_engine(fh.read(), plan, input_name="crops", input_shape=(3, h, w), fp16=True,
                     max_batch=max(batches), opt_batch=64)
    runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
    with open(plan, "rb") as fh:
        engine = runtime.deserialize_cuda_engine(fh.read())
    context = engine.create_execution_context()
    stream = torch.cuda.Stream()
    cells = []
    for b in batches:
        x = torch.rand(b, 3, h, w, device="cuda")
        y = torch.empty(b, 17, h // 4, w // 4, device="cuda")
        f = torch.empty(b, 2048, device="cuda")  # ResNet-50's appearance features (the file's third output)
        context.set_input_shape("crops", tuple(x.shape))
        context.set_tensor_address("crops", x.data_ptr())
        context.set_tensor_address("heatmaps", y.data_ptr())
        context.set_tensor_address("features", f.data_ptr())
        run = lambda: context.execute_async_v3(stream.cuda_stream)  # noqa: E731
        s = timed(run, min_time, sync=stream.synchronize)
        cells.append(f"{b / s:.0f}")
    return f"| {name} {h}x{w} | TensorRT | fp16 (device I/O) | no | " + " | ".join(cells) + " |"


def _gpu_demo(model: RMPEModel, cfg, folder: str, frames: int, people: int, detector: Optional[str]) -> str:
    """End-to-end demo fps on a 720p video (vtest_pets2009 scaled to 1280x720), torch fp16."""
    import cv2

    from rmpe.checkpoints import save_model_checkpoint

    video = os.path.join(folder, "vtest_720p.mp4")
    cap = cv2.VideoCapture(str(VIDEO))
    writer = cv2.VideoWriter(video, cv2.VideoWriter_fourcc(*"mp4v"), 10, (1280, 720))
    n = 0
    while n < frames:
        ok, frame = cap.read()
        if not ok:
            break
        writer.write(cv2.resize(frame, (1280, 720), interpolation=cv2.INTER_LINEAR))
        n += 1
    writer.release()
    cap.release()
    ckpt = os.path.join(folder, "m.pth")
    save_model_checkpoint(ckpt, model, config=cfg.to_dict())
    if detector is None:
        detector = os.path.join(folder, "dets.json")
        _video_dets(detector, n, people, (1280, 720))
        what = f"detection file, {people} boxes per frame"
    else:
        what = f"YOLO {os.path.basename(detector)} on every frame"
    rows = ["| video | detector | model | backend | frames/s |", "|---|---|---|---|---|"]
    for label, extra in (("torch fp32", []), ("torch fp16", ["inference.half=true"])):
        fps = demo_fps(video, ckpt, "torch", detector, n, device="cuda", overrides=arch("fastpose_se50") + extra)
        rows.append(f"| 1280x720, {n} frames | {what} | fastpose_se50 256x192 | {label} | {fps:.1f} |")
        print(rows[-1], flush=True)
    return "\n".join(rows)


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--part", choices=("cpu", "cpu-demo", "gpu"), default="cpu")
    p.add_argument("--models", default="fastpose_se18,fastpose_se50")
    p.add_argument("--batches", default=None, help="default 1,8 (cpu) or 1,8,64,256 (gpu)")
    p.add_argument("--threads", default="1,2", help="CPU threads, a list (cpu) or one value (cpu-demo)")
    p.add_argument("--min-time", type=float, default=2.0, help="seconds per measurement")
    p.add_argument("--frames", type=int, default=80, help="video frames for the demo figures")
    p.add_argument("--people", type=int, default=4, help="boxes per frame for the demo figures")
    p.add_argument("--demo-model", default="fastpose_se18")
    p.add_argument("--detector", default=None, help="gpu: YOLO weights for the demo (default: a detection file)")
    p.add_argument("--out", default=None, help="also write the markdown here")
    args = p.parse_args(argv)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    head = (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, load average {load:.2f} "
            f"at the start, torch {torch.__version__}")
    if args.part == "cpu":
        text = cpu_table(args.models.split(","), _parse_list(args.batches or "1,8"), _parse_list(args.threads),
                         args.min_time)
    elif args.part == "cpu-demo":
        text = cpu_demo(args.demo_model, _parse_list(args.threads)[0], args.frames, args.people)
    else:
        text = gpu_tables(_parse_list(args.batches or "1,8,64,256"), args.min_time, args.frames, args.people,
                          args.detector)
    load_end = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    text = f"{head}; load average {load_end:.2f} at the end\n\n{text}\n"
    print(text)
    if args.out:
        with open(args.out, "a", encoding="utf-8") as fh:
            fh.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
