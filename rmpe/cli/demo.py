"""rmpe-demo: poses on a video, an image, an image folder or a webcam.

    rmpe-demo --video clip.mp4 --checkpoint fast_res50_256x192.pth --out out.mp4 --json out.json
"""
from __future__ import annotations

import argparse
import itertools
import os
import sys
import time
import warnings
from typing import List, Optional

from ..errors import RMPEError, cli_main
from .options import ArgumentParser, add_config_args, add_inference_args, config_from_args, stderr_log

WEIGHTS_HELP = (
    "no pose checkpoint given: pass --checkpoint FILE, either AlphaPose's FastPose-50 weights "
    "(fast_res50_256x192.pth from the AlphaPose model zoo, with --config configs/coco/fastpose_se50_256x192.yaml) "
    "or a checkpoint trained with rmpe-train (e.g. work_dirs/quickstart/best.pth with its config)"
)


def build_parser() -> argparse.ArgumentParser:
    p = ArgumentParser(
        prog="rmpe-demo",
        description="Multi-person pose estimation on videos, images and webcams.",
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--video", help="input video file")
    src.add_argument("--image", help="input image file")
    src.add_argument("--images", help="folder of images (sorted by name)")
    src.add_argument("--webcam", type=int, metavar="N", help="webcam index")
    p.add_argument("--checkpoint", help="pose model weights (AlphaPose FastPose .pth or rmpe-train checkpoint)")
    p.add_argument("--detector", default=None,
                   help="person detector: ultralytics weights (.pt/.yaml/.onnx, path or name) or a COCO detection results .json "
                        "(image_id = frame index for videos, file name or COCO id for images); default: config's detector")
    p.add_argument("--out", help="rendered output: a video file for --video/--webcam, a folder (or image file) for images")
    p.add_argument("--json", help="results JSON (JSON Lines in FILE.partial.jsonl while running)")
    p.add_argument("--format", choices=("alphapose", "coco", "openpose"), default=None,
                   help="JSON layout (default: demo.format of the config, alphapose)")
    p.add_argument("--threshold", type=float, default=None, help="draw keypoints above this score (default demo.draw_threshold)")
    p.add_argument("--show-boxes", action=argparse.BooleanOptionalAction, default=None,
                   help="draw detector boxes and person scores (default demo.show_boxes)")
    p.add_argument("--max-frames", type=int, default=None, help="stop after this many frames")
    p.add_argument("--profile", action="store_true", help="print per-stage times at the end")
    add_config_args(p)
    add_inference_args(p)
    return p


def _source(args):
    from ..sources import ImageSource, VideoSource

    if args.video is not None:
        return VideoSource(args.video)
    if args.webcam is not None:
        return VideoSource(int(args.webcam))
    return ImageSource(args.image if args.image is not None else args.images)


def _outputs(args, source, cfg):
    """(video_path, image_dir) for --out."""
    if not args.out:
        return None, None
    from ..sources import IMAGE_SUFFIXES, VideoSource

    if isinstance(source, VideoSource):
        if os.path.isdir(args.out):
            raise RMPEError(f"--out {args.out} is a folder; give a video file name such as out.mp4")
        return args.out, None
    if args.image is not None and args.out.lower().endswith(IMAGE_SUFFIXES):
        return None, ("file", args.out)
    return None, args.out


@cli_main
def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    if args.max_frames is not None and args.max_frames < 1:
        raise RMPEError(f"--max-frames must be at least 1, got {args.max_frames}")
    if args.checkpoint is None:
        raise RMPEError(WEIGHTS_HELP)
    from ..api import PoseEstimator

    cfg = config_from_args(args, checkpoint=args.checkpoint, log=stderr_log("rmpe-demo"))
    source = _source(args)  # bad input fails before models load
    if not os.path.isfile(args.checkpoint):
        raise RMPEError(f"checkpoint not found: {args.checkpoint}")

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        est = PoseEstimator(cfg, checkpoint=args.checkpoint, detector=args.detector, profile=args.profile)
    video_path, image_out = _outputs(args, source, cfg)
    single_file = isinstance(image_out, tuple)
    from ..outputs import OutputWorker
    from ..sources import VideoSource

    is_video = isinstance(source, VideoSource)
    worker = OutputWorker(
        video_path=video_path,
        image_dir=(os.path.dirname(os.path.abspath(image_out[1])) if single_file else image_out),
        json_path=args.json,
        fmt=args.format or cfg.demo.format,
        fps=getattr(source, "fps", 25.0),
        size=getattr(source, "size", None),
        threshold=cfg.demo.draw_threshold if args.threshold is None else args.threshold,
        show_boxes=cfg.demo.show_boxes if args.show_boxes is None else args.show_boxes,
        skeleton=est.keypoint_set.skeleton or None,
        queue_size=cfg.demo.queue_size,
    )
    total = getattr(source, "frame_count", None)
    if args.max_frames is not None:
        total = args.max_frames if total is None else min(total, args.max_frames)
    frames = itertools.islice(source, args.max_frames) if args.max_frames is not None else source
    from tqdm import tqdm

    bar = tqdm(total=total, unit="frame", disable=args.quiet, dynamic_ncols=True, desc="rmpe-demo")
    frames_done = 0
    people_total = 0
    start = time.perf_counter()
    interrupted = False
    try:
        for frame, people in est.run(frames):
            image_id = frame.index if is_video else frame.name
            if single_file:
                frame.name = os.path.basename(image_out[1])
            worker.put(frame, people, image_id=image_id)
            people_total += len(people)
            frames_done += 1
            bar.update(1)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        bar.close()
        worker.close()
    elapsed = time.perf_counter() - start
    skipped = getattr(source, "skipped", [])
    if not args.quiet or interrupted:
        msg = f"rmpe-demo: {frames_done} frames, {people_total} people, {frames_done / max(elapsed, 1e-9):.1f} frames/s"
        if skipped:
            msg += f", {len(skipped)} unreadable images skipped"
        if args.json:
            msg += f"; results in {args.json}"
        if interrupted:
            msg += " (interrupted)"
        print(msg, file=sys.stderr)
    if args.profile:
        print(est.timer.summary(frames_done), file=sys.stderr)
    return 130 if interrupted else 0


if __name__ == "__main__":
    sys.exit(main())
