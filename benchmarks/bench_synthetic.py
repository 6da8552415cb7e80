"""Speed of the synthetic world on one CPU core: images (and video frames) per second.

Usage::

    python benchmarks/bench_synthetic.py [--images 300] [--size 640x480] [--video-seconds 30]

Rows: rendering in memory; rendering + simulated detector + JPEG encoding (everything a
data loader making images on the fly would do); ``generate_dataset`` writing files and JSON;
``generate_video`` writing an mp4 with annotations. OpenCV runs with one thread. Both wall
time and process CPU time are reported: on a shared machine the CPU figure is the one that
says what a free core would do.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time

import cv2
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from rmpe.data.synthetic import (  # noqa: E402
    SyntheticConfig, generate_dataset, generate_video, make_example, render_scene, scene_rng,
)
from rmpe.data.synthetic.files import encode_image  # noqa: E402


def _timed(fn):
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w0, time.process_time() - c0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--images", type=int, default=300)
    ap.add_argument("--size", default="640x480")
    ap.add_argument("--video-seconds", type=float, default=30.0)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    cv2.setNumThreads(1)
    w, h = (int(v) for v in args.size.lower().split("x"))
    cfg = SyntheticConfig(size=(w, h))
    n = args.images

    render_scene(scene_rng(args.seed, 10**6), (w, h), cfg)  # warm-up (noise tile cache)
    rows = []
    people = []

    def render_only():
        for i in range(n):
            people.append(len(render_scene(scene_rng(args.seed, i), (w, h), cfg).people))

    _, wall, cpu = _timed(render_only)
    rows.append(("render_scene (in memory)", n, wall, cpu))

    def full_example():
        for i in range(n):
            scene, _ = make_example(args.seed, i, cfg)
            encode_image(scene.image, cfg)

    _, wall, cpu = _timed(full_example)
    rows.append(("render + detector + JPEG encode", n, wall, cpu))

    with tempfile.TemporaryDirectory() as tmp:
        _, wall, cpu = _timed(lambda: generate_dataset(os.path.join(tmp, "d"), n, args.seed, size=(w, h)))
        rows.append(("generate_dataset (files + JSON)", n, wall, cpu))
        frames = int(round(args.video_seconds * cfg.fps))
        if frames > 0:
            _, wall, cpu = _timed(lambda: generate_video(os.path.join(tmp, "v"), args.video_seconds, args.seed,
                                                         size=(w, h)))
            rows.append((f"generate_video (mp4v, {cfg.video_people} people, {cfg.fps:g} fps)", frames, wall, cpu))

    print(f"## Synthetic world speed, {w}x{h}, one OpenCV thread\n")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} logical CPUs, "
          f"Python {platform.python_version()}, OpenCV {cv2.__version__}, NumPy {np.__version__}; "
          f"load average at start {os.getloadavg()[0]:.2f}\n")
    print(f"mean people per image: {np.mean(people):.2f}\n")
    print("| step | items | wall s | items/s (wall) | CPU s | items/s (CPU) |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, count, wall, cpu in rows:
        print(f"| {name} | {count} | {wall:.2f} | {count / wall:.1f} | {cpu:.2f} | {count / max(cpu, 1e-9):.1f} |")


if __name__ == "__main__":
    main()
