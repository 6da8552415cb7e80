"""rmpe-synth: write a synthetic keypoint data set (images, COCO annotations, detections) or video.

Examples::

    rmpe-synth --out work_dirs/synth --images 500 --seed 0
    rmpe-synth --out work_dirs/synth_small --images 50 --seed 1 --size 320x240
    rmpe-synth --out work_dirs/walk --video 300 --seed 2 --fps 10 --people 4
    rmpe-synth --out work_dirs/cross.mp4 --video 60 --scenario crossing --people 6
    rmpe-synth --out work_dirs/synth --images 200 --config configs/synthetic/easy.yaml --set synthetic.people=[1,2]
"""
from __future__ import annotations

import argparse
import os
import re
import sys
from typing import List, Optional, Sequence, Tuple

from ..data.synthetic.config import VIDEO_SCENARIOS
from ..errors import RMPEError, cli_main
from .options import ArgumentParser


def build_parser() -> argparse.ArgumentParser:
    p = ArgumentParser(prog="rmpe-synth", description=__doc__.split("\n")[0],
                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="output folder (or a .mp4 path with --video and no --images)")
    p.add_argument("--images", type=str, default=None, help="number of images to write")
    p.add_argument("--seed", type=str, default="0", help="data set seed (integer, default 0)")
    p.add_argument("--size", type=str, default=None, help="image size WIDTHxHEIGHT (default 640x480 or the config's)")
    p.add_argument("--video", type=str, default=None, metavar="SECONDS", help="also write a video this long")
    p.add_argument("--fps", type=str, default=None, help="video frame rate (default: config synthetic.fps, 10)")
    p.add_argument("--people", type=str, default=None, help="people in the video (default 3)")
    p.add_argument("--scenario", default="lanes", choices=VIDEO_SCENARIOS,
                   help="video motion: lanes (each person in its own depth lane, default), crossing "
                        "(people walk across each other) or crowd (crossing, plus people leaving and entering)")
    p.add_argument("--write-frames", action="store_true", help="also write the video frames as images")
    p.add_argument("--config", default=None, help="YAML file; its 'synthetic:' section sets the world")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. synthetic.people=[1,2] (repeatable)")
    p.add_argument("--workers", type=str, default="1", help="processes rendering images (default 1)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def parse_size(text: str) -> Tuple[int, int]:
    """``"640x480"`` -> (640, 480); anything else is an RMPEError."""
    m = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text or "")
    if not m:
        raise RMPEError(f"--size '{text}': expected WIDTHxHEIGHT, e.g. 640x480")
    w, h = int(m.group(1)), int(m.group(2))
    if w < 16 or h < 16:
        raise RMPEError(f"--size '{text}': width and height must be at least 16")
    return w, h


def _int(text: str, flag: str, minimum: int) -> int:
    try:
        value = int(text)
    except (TypeError, ValueError):
        raise RMPEError(f"{flag} '{text}': expected an integer") from None
    if value < minimum:
        raise RMPEError(f"{flag} {value}: must be at least {minimum}")
    return value


def _float(text: str, flag: str) -> float:
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise RMPEError(f"{flag} '{text}': expected a number") from None
    if not value > 0 or value != value or value == float("inf"):
        raise RMPEError(f"{flag} {text}: must be a number > 0")
    return value


def load_synthetic_config(path: Optional[str], overrides: Sequence[str] = ()):
    """The ``synthetic:`` section of a config file (and ``--set synthetic.x=...``) as a SyntheticConfig."""
    from ..config import load_config

    return load_config(path, overrides).synthetic


@cli_main
def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    from ..data.synthetic import generate_dataset, generate_video

    if args.images is None and args.video is None:
        raise RMPEError("nothing to do: give --images N and/or --video SECONDS")
    num_images = _int(args.images, "--images", 0) if args.images is not None else None
    seed = _int(args.seed, "--seed", 0)
    workers = _int(args.workers, "--workers", 1)
    seconds = _float(args.video, "--video") if args.video is not None else None
    fps = _float(args.fps, "--fps") if args.fps is not None else None
    people = _int(args.people, "--people", 0) if args.people is not None else None
    size = parse_size(args.size) if args.size is not None else None
    config = load_synthetic_config(args.config, args.set)
    if size is not None:
        from dataclasses import replace

        config = replace(config, size=size)
    config.validate()
    w, h = config.size

    if num_images is not None:
        s = generate_dataset(args.out, num_images, seed, size=None, config=config, workers=workers,
                             progress=not args.quiet)
        rate = s["num_images"] / s["seconds"] if s["seconds"] > 0 else float("inf")
        print(f"rmpe-synth: wrote {s['num_images']} images ({w}x{h}, seed {seed}) with {s['num_people']} people "
              f"and {s['num_detections']} detections in {s['seconds']:.1f} s ({rate:.1f} img/s)")
        print(f"  images:      {s['images_dir']}")
        print(f"  annotations: {s['annotations']}")
        print(f"  detections:  {s['detections']}")
        print("  families:    " + ", ".join(f"{k} {v}" for k, v in s["families"].items()))
    if seconds is not None:
        target = args.out if num_images is None else os.path.join(args.out, "video")
        v = generate_video(target, seconds, seed, fps=fps, size=None, config=config, num_people=people,
                           write_frames=args.write_frames, progress=not args.quiet, scenario=args.scenario)
        print(f"rmpe-synth: wrote a {v['num_frames']}-frame {v['scenario']} video ({w}x{h}, {v['fps']:g} fps, "
              f"{v['num_people']} people) with {v['num_annotations']} annotations and {v['num_detections']} detections "
              f"in {v['seconds']:.1f} s")
        print(f"  video:       {v['video']}")
        print(f"  annotations: {v['annotations']}")
        print(f"  detections:  {v['detections']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
