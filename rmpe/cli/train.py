"""rmpe-train: train an RMPE / FastPose model on a COCO-format keypoint data set.

    rmpe-train --config configs/synthetic/quickstart.yaml --workdir runs/quickstart
    rmpe-train --config CFG --set train.lr=5e-4 --set train.epochs=10 --workdir DIR
    rmpe-train --workdir DIR --resume                 # continue DIR/last.pth (DIR/config.yaml)
    torchrun --nproc_per_node 2 -m rmpe.cli.train --config CFG --workdir DIR

Rank 0 writes DIR/last.pth (every epoch), DIR/best.pth (best validation AP),
DIR/metrics.jsonl, DIR/curves.png, DIR/config.yaml and DIR/summary.json.

Ctrl-C (SIGINT) or SIGTERM stops cleanly: the running step finishes, DIR/last.pth is saved
mid-epoch (resume with --resume) and the exit status is 130 (SIGINT) or 143 (SIGTERM).
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
from typing import List, Optional

from ..errors import RMPEError, cli_main
from .options import ArgumentParser


def build_parser() -> argparse.ArgumentParser:
    p = ArgumentParser(
        prog="rmpe-train",
        description="Train an RMPE pose model (SPPE, optionally with the symmetric STN) on COCO-format keypoints.",
    )
    p.add_argument("--config", default=None,
                   help="experiment YAML (with --resume: default <workdir>/config.yaml)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="config override, repeatable, e.g. --set train.lr=5e-4")
    p.add_argument("--workdir", default=None,
                   help="folder for checkpoints, metrics and plots (default work_dirs/<config name>)")
    p.add_argument("--resume", action="store_true", help="continue from <workdir>/last.pth exactly where it stopped")
    p.add_argument("--device", default=None, help="auto, cpu, cuda or cuda:N (default: the config's device)")
    p.add_argument("--quiet", action="store_true", help="no progress bar and no console messages")
    return p


@cli_main
def main(argv: Optional[List[str]] = None) -> int:
    from ..config import load_config
    from ..train import train

    args = build_parser().parse_args(argv)
    config_path = args.config
    if config_path is None:
        if not (args.resume and args.workdir):
            raise RMPEError("give --config CFG (or --workdir DIR --resume to continue a run with its saved config)")
        config_path = os.path.join(args.workdir, "config.yaml")
        if not os.path.isfile(config_path):
            raise RMPEError(f"--resume: {config_path} not found; pass --config")
    workdir = args.workdir
    if workdir is None:
        stem = os.path.splitext(os.path.basename(config_path))[0]
        workdir = os.path.join("work_dirs", stem)
    from ..io import check_output_path

    check_output_path(workdir, kind="folder", flag="--workdir")
    cfg = load_config(config_path, overrides=args.overrides)
    summary = train(cfg, workdir, resume=args.resume, device=args.device, quiet=args.quiet)
    if int(os.environ.get("RANK", "0")) == 0 and not args.quiet:
        best = f"{summary.best_ap:.4f}" if summary.best_ap is not None else "n/a (no validation set)"
        reason = signal.Signals(summary.stop_signal).name if summary.stop_signal else summary.stop_reason
        state = f"stopped early ({reason})" if summary.stopped_early else "finished"
        print(
            f"{state}: {summary.epochs_done} epochs, {summary.global_step} steps in {summary.elapsed_s / 60:.1f} min; "
            f"best val AP {best}; checkpoints in {summary.workdir}",
            file=sys.stdout,
        )
    # stopped by SIGINT / SIGTERM: the shell's status for that signal (130 / 143)
    return 0 if summary.stop_signal is None else 128 + summary.stop_signal


if __name__ == "__main__":
    sys.exit(main())
