"""DARK decoding speed: batched torch decoder vs a per-joint loop (numpy + OpenCV).

    python benchmarks/bench_codec.py [--people 64] [--repeat 5]

The loop baseline is how DARK is usually written: for every person and joint, blur the
map with cv2.GaussianBlur (zero border), rescale, log, and solve the 2x2 Newton step.
"""
import argparse
import math
import time

import cv2
import numpy as np
import torch

from rmpe.codec import decode_dark
from rmpe.testing import gaussian_heatmaps, random_centres


def loop_dark(hm: np.ndarray, sigma: float = 2.0) -> np.ndarray:
    n, k, h, w = hm.shape
    r = int(math.ceil(3 * sigma))
    size = 2 * r + 1
    out = np.zeros((n, k, 2))
    for i in range(n):
        for j in range(k):
            m = hm[i, j]
            py, px = divmod(int(np.argmax(m)), w)
            padded = cv2.copyMakeBorder(m, r, r, r, r, cv2.BORDER_CONSTANT, value=0)
            b = cv2.GaussianBlur(padded, (size, size), sigma)[r:-r, r:-r]
            b = b * (m.max() / b.max())
            L = np.log(np.maximum(b, 1e-10))
            x, y = float(px), float(py)
            if 0 < px < w - 1 and 0 < py < h - 1:
                dx = 0.5 * (L[py, px + 1] - L[py, px - 1])
                dy = 0.5 * (L[py + 1, px] - L[py - 1, px])
                dxx = L[py, px + 1] - 2 * L[py, px] + L[py, px - 1]
                dyy = L[py + 1, px] - 2 * L[py, px] + L[py - 1, px]
                dxy = 0.25 * (L[py + 1, px + 1] - L[py - 1, px + 1] - L[py + 1, px - 1] + L[py - 1, px - 1])
                hess = np.array([[dxx, dxy], [dxy, dyy]])
                if abs(np.linalg.det(hess)) > 1e-12:
                    off = np.linalg.solve(hess, np.array([dx, dy]))
                    x, y = x - off[0], y - off[1]
            out[i, j] = (x, y)
    return out


def best_of(fn, repeat):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--people", type=int, default=64)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    rng = np.random.default_rng(0)
    centres = random_centres(rng, args.people, 17, (64, 48))
    hm = gaussian_heatmaps(centres, (64, 48)) + 0.02 * rng.random((args.people, 17, 64, 48)).astype(np.float32)
    t_hm = torch.from_numpy(hm)
    decode_dark(t_hm)  # warm-up
    ref = loop_dark(hm)
    got = decode_dark(t_hm)[0].numpy()
    assert np.abs(ref - got).max() < 1e-3, np.abs(ref - got).max()
    t_batched = best_of(lambda: decode_dark(t_hm), args.repeat)
    t_loop = best_of(lambda: loop_dark(hm), max(1, args.repeat // 2))
    print(f"| decoder | {args.people} people x 17 joints x 64x48 | ms |")
    print("|---|---|---|")
    print(f"| DARK per-joint loop (numpy + cv2) | | {t_loop * 1e3:.1f} |")
    print(f"| DARK batched (torch, {args.threads} thread) | | {t_batched * 1e3:.1f} |")
    print(f"\nspeed-up: {t_loop / t_batched:.1f}x")


if __name__ == "__main__":
    main()
