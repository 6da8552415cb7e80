"""Training throughput: the full loop (DataLoader workers + targets + step) vs the model step alone.

    python benchmarks/bench_train.py                      # quickstart settings, default workers
    python benchmarks/bench_train.py --workers 0 --steps 30
    python benchmarks/bench_train.py --config configs/synthetic/quickstart.yaml --set train.batch_size=16

Generates a small rmpe-synth data set in a temporary folder (the config's ``synthetic``
world), builds the trainer exactly as ``rmpe-train`` does, and measures on the same batches:

1. data only: the DataLoader alone (decode, one ``cv2.warpAffine`` per sample, collate);
2. model step only: target encoding + forward + backward + Adam on batches already in memory;
3. full loop: the DataLoader feeding the model step, as in training;

2 and 3 alternate for ``--rounds`` rounds (plus a last model-only run); each full-loop round
is compared with the mean of the model-only runs around it and the median ratio reported,
which keeps other load on a shared machine from deciding the figure.

The data pipeline keeps up when full / model-step is close to 1 (target >= 0.9). Prints a
markdown table.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, List

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--config", default="configs/synthetic/quickstart.yaml")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--images", type=int, default=400, help="synthetic training images to generate")
    p.add_argument("--steps", type=int, default=20, help="timed steps per measurement")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    p.add_argument("--rounds", type=int, default=3, help="alternating rounds of model-only and full-loop timing")
    p.add_argument("--workers", type=int, default=None, help="DataLoader workers (default: the config's)")
    p.add_argument("--threads", type=int, default=None, help="torch threads in the main process (default: torch's)")
    args = p.parse_args(argv)

    from rmpe.config import load_config
    from rmpe.data.synthetic import generate_dataset
    from rmpe.train import Trainer

    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = load_config(args.config, args.overrides)
    if args.workers is not None:
        cfg.data.num_workers = args.workers
    bs = cfg.train.batch_size
    total = args.warmup + args.steps
    with tempfile.TemporaryDirectory() as tmp:
        summary = generate_dataset(os.path.join(tmp, "train"), args.images, seed=0, config=cfg.synthetic)
        if summary["num_people"] < total * bs:
            print(f"need {total * bs} people, the {args.images} images hold {summary['num_people']}; "
                  f"raise --images", file=sys.stderr)
            return 2
        cfg.data.train_ann = summary["annotations"]
        cfg.data.train_images = summary["images_dir"]
        cfg.data.val_ann = cfg.data.val_images = None
        cfg.train.max_minutes = None
        cfg.train.epochs = 1000
        trainer = Trainer(cfg, os.path.join(tmp, "work"), quiet=True)
        trainer._setup()
        trainer.sampler.set_epoch(0)
        trainer.train_model.train()

        def rate(step: Callable[[int], Any]) -> float:
            """Samples per second of ``step(i)`` over the timed steps, after the untimed ones."""
            for i in range(args.warmup):
                step(i)
            t0 = time.perf_counter()
            for i in range(args.warmup, total):
                step(i)
            return args.steps * bs / (time.perf_counter() - t0)

        # 1. data only (collects the batches)
        batches: List[Any] = []
        loader = iter(trainer._loader())
        data_rate = rate(lambda i: batches.append(next(loader)))
        del loader

        def model_only() -> float:
            return rate(lambda i: trainer._train_step(batches[i]))

        def full_loop() -> float:
            loader = iter(trainer._loader())
            return rate(lambda i: trainer._train_step(next(loader)))

        # 2./3. model step alone and the full loop on the same batches, alternated
        model_rates, full_rates = [], []
        for _ in range(args.rounds):
            model_rates.append(model_only())
            full_rates.append(full_loop())
        model_rates.append(model_only())

    import statistics

    model_rate = statistics.median(model_rates)
    full_rate = statistics.median(full_rates)
    # each full-loop round against the mean of the model-only rounds before and after it
    ratios = [f / (0.5 * (model_rates[i] + model_rates[i + 1])) for i, f in enumerate(full_rates)]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"torch {torch.__version__}, {torch.get_num_threads()} torch threads, load average {load:.2f}")
    print(f"model {cfg.model.name} {cfg.model.input_size[0]}x{cfg.model.input_size[1]}, batch {bs}, "
          f"{cfg.data.num_workers} DataLoader workers, {args.rounds} rounds of {args.steps} timed steps")
    print()
    print("| measure | samples/s |")
    print("|---|---:|")
    print(f"| data pipeline alone | {data_rate:.1f} |")
    print(f"| model step alone (median of {len(model_rates)}: "
          f"{', '.join(f'{r:.1f}' for r in model_rates)}) | {model_rate:.1f} |")
    print(f"| full training loop (median of {len(full_rates)}: "
          f"{', '.join(f'{r:.1f}' for r in full_rates)}) | {full_rate:.1f} |")
    print(f"| **full loop / model step** (median of per-round ratios "
          f"{', '.join(f'{r:.3f}' for r in ratios)}) | **{statistics.median(ratios):.3f}** |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
