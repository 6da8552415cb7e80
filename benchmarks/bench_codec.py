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
from rmpe.testing import dark_reference, gaussian_heatmaps, random_centres


def cv2_blur(m: np.ndarray, sigma: float) -> np.ndarray:
    """Zero-border Gaussian blur of one (h, w) map with OpenCV, radius ceil(3 sigma)."""
    r = int(math.ceil(3 * sigma))
    padded = cv2.copyMakeBorder(m, r, r, r, r, cv2.BORDER_CONSTANT, value=0)
    return cv2.GaussianBlur(padded, (2 * r + 1, 2 * r + 1), sigma)[r:-r, r:-r]


def loop_dark(hm: np.ndarray, sigma: float = 2.0) -> np.ndarray:
    """The per-joint loop: rmpe.testing's DARK reference with the OpenCV blur; (N,K,2) coords."""
    return dark_reference(hm, sigma, blur=cv2_blur)[0]


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
