"""SPPE throughput: crops per second of FastPose variants at several batch sizes.

Run ``python benchmarks/bench_sppe.py`` (from the repository root). On the CPU it measures
fp32; on CUDA (when available, or with ``--device cuda``) fp32 and fp16 autocast, both in
channels_last. Prints a markdown table; figures are never asserted by tests.

Examples::

    python benchmarks/bench_sppe.py
    python benchmarks/bench_sppe.py --models fastpose_se18 --inputs 128x96 --batches 1,8,32,64
    python benchmarks/bench_sppe.py --threads 1 --min-time 5
"""
from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import List, Optional, Tuple

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sppe import build_sppe  # noqa: E402


def _parse_size(text: str) -> Tuple[int, int]:
    height, width = text.lower().split("x")
    return int(height), int(width)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(model: torch.nn.Module, batch: int, size: Tuple[int, int], device: torch.device,
            precision: str, min_time: float, min_iters: int = 3) -> Tuple[float, int]:
    """Median seconds per batch of ``model`` on random input, and the number of timed runs."""
    memory_format = torch.channels_last if device.type == "cuda" else torch.contiguous_format
    x = torch.randn(batch, 3, *size, device=device).contiguous(memory_format=memory_format)
    autocast = (
        torch.autocast(device.type, dtype=torch.float16)
        if precision == "fp16" else torch.autocast(device.type, enabled=False)
    )
    times: List[float] = []
    with torch.inference_mode(), autocast:
        for _ in range(2 if device.type == "cuda" else 1):  # warm-up (cuDNN autotune, allocator)
            model(x)
        _sync(device)
        start_all = time.perf_counter()
        while len(times) < min_iters or time.perf_counter() - start_all < min_time:
            start = time.perf_counter()
            model(x)
            _sync(device)
            times.append(time.perf_counter() - start)
    return statistics.median(times), len(times)


def measure_train(model: torch.nn.Module, batch: int, size: Tuple[int, int], device: torch.device,
                  precision: str, min_time: float, min_iters: int = 3) -> Tuple[float, int]:
    """Median seconds per training step (forward, MSE to random targets, backward, Adam step)."""
    model.train()
    memory_format = torch.channels_last if device.type == "cuda" else torch.contiguous_format
    x = torch.randn(batch, 3, *size, device=device).contiguous(memory_format=memory_format)
    target = torch.rand(batch, model.num_keypoints, size[0] // 4, size[1] // 4, device=device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=torch.float16, enabled=precision == "fp16"):
            loss = torch.nn.functional.mse_loss(model(x).float(), target)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()

    step()
    _sync(device)
    times: List[float] = []
    start_all = time.perf_counter()
    while len(times) < min_iters or time.perf_counter() - start_all < min_time:
        start = time.perf_counter()
        step()
        _sync(device)
        times.append(time.perf_counter() - start)
    model.eval()
    return statistics.median(times), len(times)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="fastpose_se18,fastpose_se50", help="comma-separated registry names")
    parser.add_argument("--batches", default="1,8,32", help="comma-separated batch sizes")
    parser.add_argument("--inputs", default="256x192", help="comma-separated crop sizes HxW (multiples of 32)")
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:1 or auto (CPU, plus CUDA when present)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--min-time", type=float, default=2.0, help="seconds of timed runs per row (at least 3 runs)")
    parser.add_argument("--train", action="store_true",
                        help="time training steps (forward + backward + Adam) instead of inference")
    parser.add_argument("--no-baseline", action="store_true",
                        help="skip the torchvision ResNet-50 224x224 row (a yardstick for shared, noisy machines)")
    args = parser.parse_args(argv)

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.device == "auto":
        devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    else:
        devices = [torch.device(args.device)]
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    batches = [int(b) for b in args.batches.split(",")]
    sizes = [_parse_size(s) for s in args.inputs.split(",")]

    mode = "train step" if args.train else "inference"
    cpu = platform.processor() or platform.machine()
    print(f"torch {torch.__version__}, CPU {cpu}, {torch.get_num_threads()} threads"
          + (f", GPU {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ""))
    print()
    print(f"| model ({mode}) | device | precision | input | batch | ms / batch | crops / s |")
    print("|---|---|---|---|---:|---:|---:|")
    if not args.no_baseline and not args.train:
        import torchvision

        for device in devices:
            baseline = torchvision.models.resnet50(weights=None).eval().to(device)
            for batch in batches:
                seconds, _ = measure(baseline, batch, (224, 224), device, "fp32", args.min_time)
                print(f"| torchvision resnet50 (yardstick) | {device.type} | fp32 | 224x224 | {batch} "
                      f"| {seconds * 1000:.1f} | {batch / seconds:.1f} |", flush=True)
            del baseline
    for name in models:
        for device in devices:
            model = build_sppe(name).eval().to(device)
            precisions = ["fp32"]
            if device.type == "cuda":
                model = model.to(memory_format=torch.channels_last)
                precisions.append("fp16")
            for precision in precisions:
                for size in sizes:
                    for batch in batches:
                        timer = measure_train if args.train else measure
                        seconds, _ = timer(model, batch, size, device, precision, args.min_time)
                        print(f"| {name} | {device.type} | {precision} | {size[0]}x{size[1]} | {batch} "
                              f"| {seconds * 1000:.1f} | {batch / seconds:.1f} |", flush=True)
            del model
            if device.type == "cuda":
                torch.cuda.empty_cache()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
