"""Person crops: batched grid_sample (rmpe.crop.crop_images) against a cv2.warpAffine loop.

Run: ``python benchmarks/bench_crop.py [--threads 1] [--people 32] [--images 4] [--device cpu]``

Prints a markdown table of crops per second for 256x192 crops from 720p frames:

* ``crop_images``: grouped by image, one grid_sample per image (what the pipeline uses);
* ``gather``: grid_sample over ``images[image_index]`` (copies one full frame per person);
* ``cv2 loop``: ``cv2.warpAffine`` per person on the host plus the upload as a tensor.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from rmpe.crop import _grid, crop_images  # noqa: E402
from rmpe.geometry import crop_boxes, crop_matrices, invert_affine  # noqa: E402


def timeit(fn, device, min_time=1.0):
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    runs, start = 0, time.perf_counter()
    while True:
        fn()
        runs += 1
        if device.type == "cuda":
            torch.cuda.synchronize()
        elapsed = time.perf_counter() - start
        if elapsed >= min_time:
            return elapsed / runs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--people", type=int, default=32)
    ap.add_argument("--images", type=int, default=4)
    ap.add_argument("--height", type=int, default=720)
    ap.add_argument("--width", type=int, default=1280)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--min-time", type=float, default=1.0)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    device = torch.device(args.device)
    rng = np.random.default_rng(0)
    b, n, h, w = args.images, args.people, args.height, args.width
    frames = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for _ in range(b)]
    images = torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).flip(1).float().div(255).to(device)
    idx = torch.tensor(rng.integers(0, b, n), device=device)
    xy = rng.uniform(0, [w - 200, h - 300], (n, 2))
    boxes = torch.tensor(np.concatenate([xy, xy + rng.uniform([40, 100], [200, 300], (n, 2))], 1), dtype=torch.float32)
    m = crop_matrices(crop_boxes(boxes), (256, 192)).to(device)

    def ours():
        return crop_images(images, idx, m, (256, 192))

    def gather():
        grid = _grid(invert_affine(m.double()), (h, w), (256, 192), torch.float32)
        return F.grid_sample(images[idx], grid, align_corners=False)

    m_np = m.cpu().numpy()
    idx_np = idx.cpu().numpy()

    def cv2_loop():
        crops = [cv2.warpAffine(frames[i], m_np[j, :2], (192, 256), flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_CONSTANT, borderValue=0) for j, i in enumerate(idx_np)]
        return torch.from_numpy(np.stack(crops)).to(device).permute(0, 3, 1, 2).flip(1).float().div(255)

    rows = [("crop_images (grouped grid_sample)", ours), ("gather images[image_index] + grid_sample", gather),
            ("cv2.warpAffine loop + upload", cv2_loop)]
    print(f"{n} crops 256x192 from {b} frames {w}x{h}, device {device}, {args.threads} thread(s), torch {torch.__version__}\n")
    print("| method | ms per batch | crops/s |")
    print("|---|---:|---:|")
    for name, fn in rows:
        t = timeit(fn, device, args.min_time)
        print(f"| {name} | {t * 1e3:.1f} | {n / t:.0f} |")
    extra = n * 3 * h * w * 4 / 2**20
    print(f"\nThe gather variant materialises {extra:.0f} MiB of copied frames for these {n} people.")


if __name__ == "__main__":
    main()
