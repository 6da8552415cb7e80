"""Real-time multi-person pose on the CPU: networks per backend and precision, rmpe-demo end to
end (old path against the pipelined one, side by side), and the accuracy cost of bf16.

Run (the "CPU real time" section of BENCHMARKS.md)::

    python benchmarks/bench_cpu_realtime.py --part all --work /tmp/rmpe-cpu-bench
    python benchmarks/bench_cpu_realtime.py --part ceiling
    python benchmarks/bench_cpu_realtime.py --part network --min-time 2
    python benchmarks/bench_cpu_realtime.py --part demo --frames 48
    python benchmarks/bench_cpu_realtime.py --part accuracy

Parts:

* ``network``: crops/s of the pose network alone (FastPose-50 256x192 and se18 128x96, batch
  1 and 8, 1 and 2 threads) for torch fp32, torch bf16 (autocast + channels_last),
  onnxruntime fp32, OpenVINO fp32 and OpenVINO bf16 (random weights: speed only).
* ``demo``: ``rmpe-demo`` (``python -m rmpe.cli.demo`` from this checkout) on
  ``vtest_pets2009_480x360.avi`` with a random yolov8n (:func:`rmpe.testing.random_yolo`, at most
  5 people per frame; its person bias -4 keeps a few hundred candidate boxes above conf 0.05
  before NMS, where the default -2 keeps all 6300 anchors and makes ultralytics' NMS 50-80 ms
  of every frame, a cost no trained detector has) as .pt and as ultralytics' OpenVINO export (fixed batch 8, fixed 480x640, the letterbox
  a .pt gets on this 4:3 video), and a random FastPose-50;
  every row is a separate process with ``--profile``; the old path (torch fp32, .pt detector,
  grid_sample crops, no pipelining) and the new ones in one run.
* ``ceiling``: what the processor allows: the bf16 matrix-multiply rate of torch's oneDNN
  kernel (AMX where present) on 1 and 2 threads, the multiply-accumulates of FastPose-50 at
  256x192 and of yolov8n at 480x640 counted layer by layer, and the crops/s and demo frames/s
  that rate would give if every layer ran at it (an upper bound no backend can pass).
* ``accuracy``: AP of the quickstart checkpoint on its regenerated validation set (rmpe-eval,
  GT boxes) in fp32 and bf16 per backend, and the share of keypoints within 0.5 px of fp32 on
  real crops (COCO people of ``../shared/data``).

Each part prints a markdown table and the machine line (CPU, bf16 flags, load average).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Dict, List, Optional, Sequence

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from bench_backends import MODELS, arch, build, export, timed  # noqa: E402

DATA = (ROOT / ".." / "shared" / "data").resolve()
VIDEO = DATA / "videos" / "vtest_pets2009_480x360.avi"
QUICKSTART = Path("/work/main/work_dirs/quickstart")
NETWORKS = ("fastpose_se50", "fastpose_se18")


def machine_line() -> str:
    """CPU model, its bf16 flags, cores and the load average now."""
    from rmpe.precision import BF16_CPU_FLAGS, cpu_flags

    name = "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    flags = [f for f in BF16_CPU_FLAGS + ("avx512f", "avx512_fp16", "amx_tile") if f in cpu_flags()]
    load = " ".join(f"{v:.2f}" for v in os.getloadavg())
    return (f"{name}, {os.cpu_count()} cores, flags {' '.join(flags) or 'none of the bf16 ones'}, "
            f"load average {load}, torch {torch.__version__}")


# ------------------------------------------------------------------------------- networks


def network_table(models: Sequence[str], batches: Sequence[int], threads: Sequence[int], min_time: float,
                  work: str) -> str:
    """crops/s of the network alone per backend and precision."""
    from rmpe.export.runtime import OnnxRuntimeBackend, OpenVINOBackend

    cols = ["torch fp32", "torch bf16", "onnxruntime fp32", "OpenVINO fp32", "OpenVINO bf16"]
    rows = ["| model | input | threads | batch | " + " | ".join(cols) + " |", "|---|---|---|---|" + "---|" * len(cols)]
    for name in models:
        h, w = MODELS[name]
        model, cfg = build(name)
        path = export(model, cfg, work, name)
        sppe = model.sppe
        for t in threads:
            torch.set_num_threads(t)
            runtimes = [OnnxRuntimeBackend(path, threads=t), OpenVINOBackend(path, threads=t),
                        OpenVINOBackend(path, threads=t, precision="bf16")]
            for b in batches:
                x = torch.rand(b, 3, h, w)
                xn = x.numpy()
                rates = []
                sppe.to(memory_format=torch.contiguous_format)
                with torch.no_grad():
                    rates.append(b / timed(lambda: sppe(x), min_time))
                    sppe.to(memory_format=torch.channels_last)
                    with torch.autocast("cpu", dtype=torch.bfloat16):
                        rates.append(b / timed(lambda: sppe(x), min_time))
                for rt in runtimes:
                    rates.append(b / timed(lambda: rt.heatmaps(xn), min_time))
                rows.append(f"| {name} | {h}x{w} | {t} | {b} | " + " | ".join(f"{r:.1f}" for r in rates) + " |")
                print(rows[-1], flush=True)
    return "\n".join(rows)


# ------------------------------------------------------------------------------- ceiling


def count_macs(module: torch.nn.Module, x: torch.Tensor) -> int:
    """Multiply-accumulates of one forward pass of ``module`` on ``x``: every Conv2d
    (output elements x input channels per group x kernel area) and Linear (output elements x
    input features), counted from the shapes seen by forward hooks."""
    total = [0]

    def conv(m, inputs, out):
        total[0] += out.numel() * (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]

    def linear(m, inputs, out):
        total[0] += out.numel() * m.in_features

    hooks = [m.register_forward_hook(conv) for m in module.modules() if isinstance(m, torch.nn.Conv2d)]
    hooks += [m.register_forward_hook(linear) for m in module.modules() if isinstance(m, torch.nn.Linear)]
    try:
        with torch.no_grad():
            module(x)
    finally:
        for h in hooks:
            h.remove()
    return total[0]


def matmul_rate(threads: int, size: int = 2048, min_time: float = 2.0) -> float:
    """bf16 TFLOP/s of a (size x size) @ (size x size) product on ``threads`` threads (oneDNN)."""
    torch.set_num_threads(threads)
    a = torch.randn(size, size, dtype=torch.bfloat16)
    b = torch.randn(size, size, dtype=torch.bfloat16)
    return 2 * size ** 3 / timed(lambda: a @ b, min_time) / 1e12


def ceiling_table(threads: Sequence[int], min_time: float, people: int = 5, repeats: int = 3) -> str:
    """The upper bound the processor's bf16 rate puts on the network and the demo: the rate is
    measured ``repeats`` times (it moves with the host's load); the bound uses the best one."""
    from ultralytics import YOLO

    model, _ = build("fastpose_se50")
    pose = count_macs(model.sppe, torch.rand(1, 3, *MODELS["fastpose_se50"]))
    det = count_macs(YOLO("yolov8n.yaml").model.eval(), torch.rand(1, 3, 480, 640))
    rows = [f"FastPose-50 256x192: {pose / 1e9:.2f} GMAC per crop; yolov8n 480x640: {det / 1e9:.2f} GMAC per frame",
            "", f"| threads | bf16 matmul TFLOP/s ({repeats} runs) | FastPose-50 crops/s at the best rate | "
            f"demo frames/s at the best rate ({people} people) |", "|---|---|---|---|"]
    for t in threads:
        rates = [matmul_rate(t, min_time=min_time) for _ in range(repeats)]
        best = max(rates) * 1e12
        rows.append(f"| {t} | {' / '.join(f'{r:.2f}' for r in rates)} | {best / (2 * pose):.0f} | "
                    f"{best / (2 * (people * pose + det)):.1f} |")
        print(rows[-1], flush=True)
    return "\n".join(rows)


# ------------------------------------------------------------------------------- end to end


def _demo_run(args: List[str], env: Dict[str, str], frames: int, out: str) -> Dict[str, object]:
    """One rmpe-demo process: frames/s, people per frame, ms per frame by stage, mode, precision."""
    cmd = [sys.executable, "-m", "rmpe.cli.demo", "--video", str(VIDEO), "--max-frames", str(frames),
           "--json", out, "--profile"] + args
    full_env = dict(os.environ, PYTHONPATH=str(ROOT), YOLO_OFFLINE="1", **env)
    proc = subprocess.run(cmd, cwd=str(ROOT), env=full_env, capture_output=True, text=True)
    if proc.returncode != 0:
        lines = proc.stderr.strip().splitlines()
        return {"error": lines[-1] if lines else str(proc.returncode)}
    fps = re.search(r"([\d.]+) frames/s", proc.stderr)
    people = re.search(r"(\d+) people", proc.stderr)
    stages = {m.group(1): float(m.group(2)) for m in re.finditer(r"^(\w+)\s+[\d.]+\s+([\d.]+)\s+[\d.]+%$",
                                                                  proc.stderr, re.M)}
    precision = re.search(r"^rmpe: (.*)$", proc.stderr, re.M)
    mode = re.search(r"warm-up \(not in frames/s\); (.*)$", proc.stderr, re.M)
    return {"fps": float(fps.group(1)) if fps else float("nan"),
            "people": int(people.group(1)) / frames if people else float("nan"),
            "stages": ", ".join(f"{k} {v:.0f}" for k, v in stages.items()),
            "precision": precision.group(1) if precision else "fp32",
            "mode": mode.group(1) if mode else "?"}


def _demo_row(label: str, runs: List[Dict[str, object]], rates: List[float]) -> str:
    """One table row from a path's rounds: the median frames/s, every round's, the median run's stages."""
    failed = [r for r in runs if "error" in r]
    if failed:
        return f"| {label} | failed: {failed[0]['error']} |"
    mid = sorted(runs, key=lambda r: r["fps"])[(len(runs) - 1) // 2]
    each = " / ".join(f"{r['fps']:.1f}" for r in runs)
    probe = " / ".join(f"{r:.2f}" for r in rates)
    return (f"| {label} | **{mid['fps']:.1f}** | {each} | {probe} | {mid['people']:.1f} | {mid['stages']} | "
            f"{mid['mode']} | {mid['precision']} |")


def demo_table(frames: int, work: str, threads: Sequence[int], rounds: int = 3) -> str:
    """rmpe-demo end to end: the old path and the new ones, side by side, one process each, every
    path once per round for ``rounds`` rounds (the median is reported with every round's figure
    and the processor's bf16 rate measured just before each run)."""
    import cv2

    from detectors.export import export_detector
    from rmpe.checkpoints import save_model_checkpoint
    from rmpe.testing import random_yolo

    # person bias -4: a few hundred candidates above conf 0.05 before NMS, as a trained
    # detector has on a street frame (-2, the default, keeps every anchor: NMS then costs 50-80 ms)
    det_pt = Path(work) / "yolov8n_person_bias4.pt"
    # fixed 480x640 input: the letterbox ultralytics gives a .pt on this 4:3 video (rect inference);
    # a fixed batch of 8 frames, detector.batch's default (rmpe-export --detector --batch 8)
    det_ov = Path(work) / "yolov8n_person_bias4_480x640_b8_openvino_model"
    if not det_pt.exists():
        cap = cv2.VideoCapture(str(VIDEO))
        ok, frame = cap.read()
        cap.release()
        random_yolo(det_pt, person_bias=-4.0, calibration=frame if ok else None)
    if not det_ov.exists():
        export_detector(det_pt, "openvino", det_ov, imgsz=(480, 640), batch=8)
    model, cfg = build("fastpose_se50")
    ckpt = os.path.join(work, "fastpose_se50.pth")
    if not os.path.exists(ckpt):
        save_model_checkpoint(ckpt, model, config=cfg.to_dict())
    onnx_path = export(model, cfg, work, "fastpose_se50")
    # at most 5 boxes a frame from the random detector, all kept (pose NMS off, as in the baseline)
    det = ["--set", "detector.max_det=5", "--set", "detector.conf=0.05", "--nms", "none"]
    old = {"RMPE_CROP": "grid_sample"}
    t = str(threads[0])
    ov_new = ["--checkpoint", onnx_path, "--backend", "openvino", "--detector", str(det_ov), "--half", "--set",
              "detector.half=true"]
    configs = [  # no --threads: rmpe-demo's automatic choice (every core when sequential, split when pipelined)
        ("old: torch fp32, .pt detector, grid_sample crops, sequential", ["--checkpoint", ckpt, "--detector", str(det_pt),
                                                                           "--no-pipelined"], old),
        ("torch bf16, .pt detector, pipelined", ["--checkpoint", ckpt, "--detector", str(det_pt), "--half"], {}),
        ("onnxruntime fp32, OpenVINO detector fp32, pipelined", ["--checkpoint", onnx_path, "--backend", "onnxruntime",
                                                                 "--detector", str(det_ov)], {}),
        ("OpenVINO fp32, OpenVINO detector fp32, pipelined", ["--checkpoint", onnx_path, "--backend", "openvino",
                                                              "--detector", str(det_ov), "--pipelined"], {}),
        (f"new: OpenVINO bf16 both, pipelined, both stages on {t} threads", ov_new + [
            "--pipelined", "--threads", t, "--set", f"detector.threads={t}"], {}),
        ("new: OpenVINO bf16 both, pipelined, cores split (1 thread each)", ov_new + [
            "--pipelined", "--threads", "1", "--set", "detector.threads=1"], {}),
        # the defaults: an OpenVINO pose network on the CPU runs the stages one after the other
        ("new: OpenVINO bf16 both, sequential: the defaults (the recommended command)", ov_new, {}),
    ]
    runs: Dict[str, List[Dict[str, object]]] = {label: [] for label, _, _ in configs}
    rates: Dict[str, List[float]] = {label: [] for label, _, _ in configs}
    for round_ in range(rounds):  # every path once per round: the host's state changes between rounds
        for label, args, env in configs:
            args = args + det
            if str(det_ov) in args:
                args += ["--set", "detector.imgsz=[480,640]"]
            # the processor's bf16 rate just before this run (2048 matmul, 0.5 s): the host's state
            rates[label].append(matmul_rate(int(t), min_time=0.5))
            runs[label].append(_demo_run(args, env, frames, os.path.join(work, "demo.json")))
            print(f"round {round_ + 1}/{rounds}: {label}: {runs[label][-1].get('fps', runs[label][-1].get('error'))} "
                  f"frames/s (bf16 {rates[label][-1]:.2f} TFLOP/s before)", flush=True)
    rows = [f"| path | frames/s (median of {rounds}) | each round | bf16 TFLOP/s before each | people/frame | "
            "ms per frame by stage (--profile, median run) | stages | precision |",
            "|---|---|---|---|---|---|---|---|"]
    rows += [_demo_row(label, runs[label], rates[label]) for label, _, _ in configs]
    return "\n".join(rows)


# ------------------------------------------------------------------------------- accuracy


def _real_people():
    """Real COCO frames and the GT boxes of their people with keypoints (mmpose sample + COCO mini)."""
    import cv2

    frames, index, boxes = [], [], []
    for ann_path, folder in ((DATA / "mmpose_coco" / "test_coco.json", DATA / "mmpose_coco"),
                             (DATA / "coco_mini_train2017" / "person_keypoints_train2017.json",
                              DATA / "coco_mini_train2017")):
        if not ann_path.exists():
            continue
        ann = json.loads(ann_path.read_text())
        files = {im["id"]: im["file_name"] for im in ann["images"]}
        by_image: Dict[int, List] = {}
        for a in ann["annotations"]:
            if a.get("num_keypoints", 0) > 0 and not a.get("iscrowd", 0):
                by_image.setdefault(a["image_id"], []).append(a["bbox"])
        for image_id, bbs in sorted(by_image.items()):
            path = folder / files[image_id]
            if not path.exists():
                found = list(folder.rglob(files[image_id]))
                if not found:
                    continue
                path = found[0]
            frames.append(cv2.imread(str(path)))
            for x, y, w, h in bbs:
                index.append(len(frames) - 1)
                boxes.append([x, y, x + w, y + h])
    return frames, np.array(index), np.array(boxes, np.float32)


def _eval_ap(args: List[str], out: str) -> str:
    cmd = [sys.executable, "-m", "rmpe.cli.eval", "--out", out, "--quiet"] + args
    proc = subprocess.run(cmd, cwd=str(ROOT), env=dict(os.environ, PYTHONPATH=str(ROOT), YOLO_OFFLINE="1"),
                          capture_output=True, text=True)
    if proc.returncode != 0:
        return "failed: " + (proc.stderr.strip().splitlines() or ["?"])[-1]
    metrics = json.loads(Path(out[:-5] + ".metrics.json" if out.endswith(".json") else out + ".metrics.json").read_text())
    stats = metrics.get("stats", metrics)
    return f"{(stats[0] if isinstance(stats, list) else stats.get('AP', stats.get('stats', [float('nan')])[0])):.4f}"


def accuracy_table(work: str) -> str:
    from rmpe.checkpoints import load_model_checkpoint
    from rmpe.config import load_config
    from rmpe.export.adapter import load_runtime_model
    from rmpe.model import RMPEModel

    ckpt, config = QUICKSTART / "best.pth", QUICKSTART / "config.yaml"
    if not ckpt.exists():
        return f"(no {ckpt}: train the quickstart first)"
    val = Path(work) / "synth_quickstart_val"
    if not (val / "annotations.json").exists():
        subprocess.run([sys.executable, "-m", "rmpe.cli.synth", "--config", "configs/synthetic/quickstart.yaml",
                        "--out", str(val), "--images", "200", "--seed", "1"], cwd=str(ROOT), check=True,
                       env=dict(os.environ, PYTHONPATH=str(ROOT)), capture_output=True)
    onnx_path = os.path.join(work, "quickstart.onnx")
    if not os.path.exists(onnx_path):
        subprocess.run([sys.executable, "-m", "rmpe.cli.export", "--checkpoint", str(ckpt), "--out", onnx_path,
                        "--quiet"], cwd=str(ROOT), check=True, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    data = ["--ann", str(val / "annotations.json"), "--images", str(val / "images")]
    rows = ["| backend | AP fp32 | AP with --half | precision with --half | keypoints within 0.5 px of fp32 "
            "(real crops) | max px | median px |", "|---|---|---|---|---|---|---|"]
    frames, index, boxes = _real_people()
    cfg = load_config(str(config))
    model = RMPEModel.from_config(cfg, load_init=False)
    load_model_checkpoint(model, str(ckpt))
    model.eval()
    k32, _ = model.predict(frames, index, boxes)
    from rmpe.precision import resolve_precision

    for backend, path in (("torch", str(ckpt)), ("onnxruntime", onnx_path), ("openvino", onnx_path)):
        base = ["--checkpoint", path, "--backend", backend] + data
        ap32 = _eval_ap(base, os.path.join(work, f"eval_{backend}_fp32.json"))
        aphalf = _eval_ap(base + ["--half"], os.path.join(work, f"eval_{backend}_half.json"))
        prec = resolve_precision(True, "cpu", backend)
        if backend == "torch":
            model.sppe.to(memory_format=torch.channels_last)
            kh, _ = model.predict(frames, index, boxes, amp=torch.bfloat16 if prec.name == "bf16" else False)
        else:
            rt = load_runtime_model(onnx_path, backend, cfg, precision="bf16" if prec.name == "bf16" else "fp32")
            kh, _ = rt.predict(frames, index, boxes)
        d = (kh - k32).norm(dim=-1)
        rows.append(f"| {backend} | {ap32} | {aphalf} | {prec.name} | {float((d <= 0.5).float().mean()) * 100:.1f} % "
                    f"of {d.numel()} | {float(d.max()):.2f} | {float(d.median()):.3f} |")
        print(rows[-1], flush=True)
    return "\n".join(rows)


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--part", choices=("ceiling", "network", "demo", "accuracy", "all"), default="all")
    p.add_argument("--work", default=None, help="folder for exports and data (kept between runs; default a temp folder)")
    p.add_argument("--min-time", type=float, default=2.0, help="seconds per network measurement")
    p.add_argument("--batches", default="1,8")
    p.add_argument("--threads", default="1,2", help="threads, a list (network: each; demo: the first, then "
                                                   "the others for the new path)")
    p.add_argument("--frames", type=int, default=48, help="frames per demo run")
    p.add_argument("--rounds", type=int, default=3, help="demo: every path this many times, interleaved (median)")
    p.add_argument("--models", default=",".join(NETWORKS))
    args = p.parse_args(argv)
    work = args.work or tempfile.mkdtemp(prefix="rmpe-cpu-bench-")
    os.makedirs(work, exist_ok=True)
    threads = [int(v) for v in args.threads.split(",")]
    print(f"machine: {machine_line()}", flush=True)
    if args.part in ("ceiling", "all"):
        print(ceiling_table(sorted(threads), args.min_time))
    if args.part in ("network", "all"):
        print(network_table(args.models.split(","), [int(v) for v in args.batches.split(",")], threads,
                            args.min_time, work))
    if args.part in ("demo", "all"):
        print(demo_table(args.frames, work, sorted(threads, reverse=True), args.rounds))
    if args.part in ("accuracy", "all"):
        print(accuracy_table(work))
    print(f"machine at the end: {machine_line()}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
