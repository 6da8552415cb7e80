"""End-to-end demo throughput vs the models alone, and memory on a long video.

    python benchmarks/bench_demo.py [--video PATH] [--people 4] [--frames 300] [--model fastpose_se18]
    python benchmarks/bench_demo.py --long-minutes 5      # peak-memory check on a generated video

Throughput: the demo pipeline (threaded decoding, detection from a file with a fixed number
of people per frame, crops + SPPE + decoding + SDTN, pose NMS, rendering, video and JSON
writing) against the time the pose model alone needs for the same batches of the same
frames held in memory. Pipeline efficiency = model time / end-to-end time.

Memory: runs the demo on a generated video of ``--long-minutes`` minutes (rmpe-synth's
video mode) and samples the process's resident memory once per simulated second; prints
the peak after the first minute and the peak over the rest.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path

import cv2
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rmpe.checkpoints import save_model_checkpoint  # noqa: E402
from rmpe.config import load_config, save_config  # noqa: E402
from rmpe.model import RMPEModel  # noqa: E402

DEFAULT_VIDEO = ROOT / ".." / "shared" / "data" / "videos" / "vtest_pets2009_480x360.avi"


def make_model_files(folder: Path, name: str, size):
    h, w = size
    overrides = [f"model.name={name}", f"model.input_size=[{h}, {w}]", f"model.heatmap_size=[{h // 4}, {w // 4}]",
                 "device=cpu", "pose_nms.score_threshold=0.0"]
    cfg = load_config(overrides=overrides)
    torch.manual_seed(0)
    model = RMPEModel.from_config(cfg)
    cfg_path, ckpt = folder / "bench.yaml", folder / "bench.pth"
    save_config(cfg, cfg_path)
    save_model_checkpoint(ckpt, model)
    return cfg, cfg_path, ckpt


def fixed_detections(path: Path, frames: int, people: int, size) -> None:
    w, h = size
    out = []
    for i in range(frames):
        for j in range(people):
            bw, bh = w / (people + 1), h * 0.6
            out.append({"image_id": i, "category_id": 1, "bbox": [j * bw + bw / 2, h * 0.2, bw * 0.8, bh], "score": 0.9})
    path.write_text(json.dumps(out))


def read_frames(video: Path, limit: int):
    cap = cv2.VideoCapture(str(video))
    frames = []
    while len(frames) < limit:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(f)
    cap.release()
    return frames


def bench_throughput(args) -> None:
    from rmpe.cli.demo import main as demo_main
    from rmpe.crop import frames_to_tensor

    video = Path(args.video)
    frames = read_frames(video, args.frames)
    n = len(frames)
    h, w = frames[0].shape[:2]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cfg, cfg_path, ckpt = make_model_files(tmp, args.model, (args.input_h, args.input_w))
        dets = tmp / "dets.json"
        fixed_detections(dets, n, args.people, (w, h))
        # the models alone on the same batches (frames already decoded, boxes known)
        model = RMPEModel.from_config(cfg).eval()
        from rmpe.checkpoints import load_model_checkpoint

        load_model_checkpoint(model, ckpt)
        boxes_all = json.loads(dets.read_text())
        per_frame = {}
        for d in boxes_all:
            x, y, bw, bh = d["bbox"]
            per_frame.setdefault(d["image_id"], []).append([x, y, x + bw, y + bh])
        def model_batches():
            with torch.no_grad():
                for s in range(0, n, args.batch):
                    batch = frames[s:s + args.batch]
                    boxes = torch.tensor([b for i in range(s, s + len(batch)) for b in per_frame[i]], dtype=torch.float32)
                    idx = torch.arange(len(batch)).repeat_interleave(args.people)
                    tensor, _ = frames_to_tensor(batch, dtype=torch.uint8)
                    model.predict(tensor, idx, boxes)

        model_batches()  # warm-up
        start = time.perf_counter()
        model_batches()
        t_model = time.perf_counter() - start
        # the whole demo (threads, decoding, detection file, NMS, rendering, video + JSON)
        start = time.perf_counter()
        code = demo_main(["--video", str(video), "--config", str(cfg_path), "--checkpoint", str(ckpt), "--detector", str(dets),
                          "--out", str(tmp / "out.mp4"), "--json", str(tmp / "out.json"), "--batch", str(args.batch),
                          "--max-frames", str(n), "--device", "cpu", "--quiet"])
        t_demo = time.perf_counter() - start
        assert code == 0
    print("| video | frames | people/frame | model | models alone (frames/s) | rmpe-demo end to end (frames/s) | efficiency |")
    print("|---|---|---|---|---|---|---|")
    print(f"| {video.name} {w}x{h} | {n} | {args.people} | {args.model} {args.input_h}x{args.input_w} | "
          f"{n / t_model:.1f} | {n / t_demo:.1f} | {t_model / t_demo:.2f} |")


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def bench_memory(args) -> None:
    from rmpe.cli.demo import main as demo_main
    from rmpe.data.synthetic import generate_video

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        seconds = int(args.long_minutes * 60)
        t0 = time.perf_counter()
        info = generate_video(tmp / "long", seconds=seconds, seed=0, fps=args.long_fps, size=(320, 240))
        gen_s = time.perf_counter() - t0
        video = Path(info["video"]) if isinstance(info, dict) else Path(info.video)
        # boxes of exactly the annotated people of every frame (the simulated detector's duplicates and
        # false positives would make the work per frame vary, and with it the allocator's high-water mark)
        ann = json.loads(Path(info["annotations"]).read_text())
        dets = tmp / "fixed_dets.json"
        dets.write_text(json.dumps([{"image_id": a["image_id"], "category_id": 1, "bbox": a["bbox"], "score": 1.0}
                                    for a in ann["annotations"]]))
        per_frame = {}
        for a in ann["annotations"]:
            per_frame[a["image_id"]] = per_frame.get(a["image_id"], 0) + 1
        print(f"people per frame: min {min(per_frame.values())}, max {max(per_frame.values())}")
        cfg, cfg_path, ckpt = make_model_files(tmp, args.model, (args.input_h, args.input_w))
        samples = []
        stop = threading.Event()

        def sample():
            while not stop.is_set():
                samples.append((time.perf_counter(), rss_mb()))
                time.sleep(0.5)

        th = threading.Thread(target=sample, daemon=True)
        start = time.perf_counter()
        th.start()
        code = demo_main(["--video", str(video), "--config", str(cfg_path), "--checkpoint", str(ckpt), "--detector", str(dets),
                          "--json", str(tmp / "long.json"), "--out", str(tmp / "long_out.mp4"), "--device", "cpu", "--quiet"])
        stop.set()
        th.join()
        total = time.perf_counter() - start
        assert code == 0
        frames = seconds * args.long_fps
        first = [m for t, m in samples if t - start <= total * 60 / seconds]
        rest = [m for t, m in samples if t - start > total * 60 / seconds]
    minute_s = total * 60 / seconds
    peaks = []
    for m in range(int(round(seconds / 60))):
        window = [mb for t, mb in samples if m * minute_s < t - start <= (m + 1) * minute_s]
        peaks.append(max(window) if window else float("nan"))
    print("peak RSS per simulated minute (MB): " + ", ".join(f"{p:.0f}" for p in peaks))
    print("| generated video | frames | wall s | peak RSS first minute (MB) | peak RSS after (MB) | growth |")
    print("|---|---|---|---|---|---|")
    print(f"| {seconds} s at {args.long_fps} fps, 320x240 (generated in {gen_s:.0f} s) | {frames} | {total:.0f} | "
          f"{max(first):.0f} | {max(rest):.0f} | {max(rest) - max(first):+.0f} MB |")
    print(f"ru_maxrss: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--video", default=str(DEFAULT_VIDEO))
    ap.add_argument("--frames", type=int, default=200)
    ap.add_argument("--people", type=int, default=4)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--model", default="fastpose_se18")
    ap.add_argument("--input-h", type=int, default=128)
    ap.add_argument("--input-w", type=int, default=96)
    ap.add_argument("--long-minutes", type=float, default=0.0, help="run the memory check on a generated video this long")
    ap.add_argument("--long-fps", type=int, default=10)
    args = ap.parse_args()
    if args.long_minutes > 0:
        bench_memory(args)
    else:
        bench_throughput(args)


if __name__ == "__main__":
    main()
