"""rmpe-eval: COCO keypoint AP of a pose model on a COCO-format data set.

    rmpe-eval --config configs/coco/fastpose_se50_256x192.yaml --checkpoint fast_res50_256x192.pth \\
        --ann person_keypoints_val2017.json --images val2017/ --boxes gt --flip

    rmpe-eval --results results.json --ann person_keypoints_val2017.json   # score a results file, no model

    rmpe-eval --checkpoint best.pth --ann video/annotations.json --images video/frames --boxes video/detections.json
    rmpe-eval --checkpoint best.pth --ann video/annotations.json --video video/video.mp4 --boxes gt   # tracking

On a video's annotations (``track_id`` per person, ``frame_index`` per image, as ``rmpe-synth --video``
writes them) the frames run in order through the tracker and HOTA, DetA, AssA, IDF1, MOTA and ID
switches on boxes and poses are reported beside the keypoint AP (``--track``; automatic for such files).

Without ``--config`` the config stored in an ``rmpe-train`` checkpoint is used.
Runs under ``torchrun --nproc_per_node N`` too: every rank takes a slice of the images,
rank 0 merges the results and evaluates once. The work itself is :mod:`rmpe.eval_runner`.
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Any, List, Optional

from ..errors import RMPEError, cli_main
from .options import (ArgumentParser, add_config_args, add_inference_args, config_from_args, int_at_least,
                      stderr_log)

DEFAULT_OUT = "results/keypoints_results.json"


def build_parser() -> argparse.ArgumentParser:
    p = ArgumentParser(prog="rmpe-eval", description="Score a pose model with COCO keypoint AP (pycocotools).")
    p.add_argument("--checkpoint", default=None,
                   help="pose model weights (AlphaPose FastPose .pth or rmpe-train checkpoint; without --config, "
                        "an rmpe-train checkpoint's own config is used)")
    p.add_argument("--results", default=None,
                   help="score this existing COCO keypoint results JSON instead of running a model "
                        "(needs only --ann; metrics go to <results>.metrics.json or --out)")
    p.add_argument("--ann", default=None, help="COCO person_keypoints annotation JSON (default data.val_ann)")
    p.add_argument("--images", default=None, help="image folder (default data.val_images)")
    p.add_argument("--boxes", default=None,
                   help="gt (ground-truth boxes of the people with labelled keypoints), detector (the config's detector) "
                        "or a COCO detection results .json (default eval.boxes)")
    p.add_argument("--out", default=None,
                   help=f"COCO keypoint results JSON; metrics go to <out>.metrics.json (default {DEFAULT_OUT}); "
                        "with --results: the metrics JSON")
    p.add_argument("--tune-nms", action="store_true",
                   help="search pose NMS (delta1, delta2, mu, gamma) on this set maximising AP and write them as YAML")
    p.add_argument("--tune-out", default=None, help="YAML for --tune-nms (default <out dir>/pose_nms_tuned.yaml)")
    p.add_argument("--max-images", type=int_at_least(1), default=None, help="evaluate only the first N images")
    p.add_argument("--track", action=argparse.BooleanOptionalAction, default=None,
                   help="tracking evaluation: run the frames in order through the tracker (tracking: settings) and "
                        "report HOTA/DetA/AssA/IDF1/MOTA/IDSW on boxes and poses (default: on when every annotation "
                        "has a track_id and every image a frame_index)")
    p.add_argument("--video", default=None,
                   help="with tracking: read the frames from this video file (frame t is the image with frame_index t) "
                        "instead of --images")
    add_config_args(p)
    add_inference_args(p)
    return p


def run(args: argparse.Namespace, model: Any = None) -> Optional[dict]:
    """Evaluate as the CLI does. ``model`` replaces the checkpoint's model (a test hook:
    anything with ``predict(images, image_index, boxes, ...)`` like :class:`rmpe.model.RMPEModel`).

    Returns the metrics on rank 0, None on the other ranks.
    """
    from ..eval_runner import evaluate_model, score_results_file, tune_pose_nms
    from ..evaluation import format_stats

    log = stderr_log("rmpe-eval")
    if args.results is not None:
        if args.checkpoint is not None or args.tune_nms or args.track or args.video:
            raise RMPEError("--results scores an existing results file: leave out --checkpoint, --tune-nms, --track "
                            "and --video")
        metrics = score_results_file(config_from_args(args), args.results, args.ann, out=args.out, log=log)
        print(format_stats(metrics["stats"]))
        return metrics
    if args.checkpoint is None and model is None:
        raise RMPEError("give --checkpoint FILE (the pose model to evaluate), or --results FILE to score "
                        "an existing results file")
    notes: List[str] = []  # printed once every input is checked: an input error stays the only line
    cfg = config_from_args(args, checkpoint=args.checkpoint if model is None else None, log=notes.append)
    out = args.out or DEFAULT_OUT
    common = dict(ann=args.ann, images=args.images, boxes=args.boxes, checkpoint=args.checkpoint, model=model,
                  max_images=args.max_images, progress=not args.quiet, log=log, notes=notes)
    if args.video is not None and args.track is False:
        raise RMPEError("--video is read for tracking evaluation: leave out --no-track")
    if args.tune_nms and (args.track or args.video):
        raise RMPEError("--tune-nms searches pose NMS on still images: leave out --track and --video")
    if not args.tune_nms and _tracking(args, cfg):
        return _run_tracking(args, cfg, out, common)
    if args.tune_nms:
        out_yaml = args.tune_out or os.path.join(os.path.dirname(os.path.abspath(out)), "pose_nms_tuned.yaml")
        result = tune_pose_nms(cfg, out_yaml=out_yaml, **common)
        print(f"rmpe-eval: pose NMS tuned: AP {result['initial_AP']:.4f} -> {result['tuned_AP']:.4f}; "
              f"parameters written to {out_yaml} (use with --set pose_nms.params_file={out_yaml})")
        return result
    metrics = evaluate_model(cfg, out=out, **common)
    if metrics is not None:
        print(format_stats(metrics["stats"]))
    return metrics


def _tracking(args: argparse.Namespace, cfg: Any) -> bool:
    """Whether this run evaluates tracking: ``--track``, ``--video``, or (neither ``--no-track`` nor
    ``--track`` given) an annotation file whose people carry ``track_id`` and images ``frame_index``."""
    from ..eval_runner import has_track_annotations

    if args.track is not None:
        return args.track
    if args.video is not None:
        return True
    ann = args.ann or cfg.data.val_ann
    return bool(ann) and os.path.isfile(ann) and has_track_annotations(ann)


def _frame_rate(args: argparse.Namespace, cfg: Any) -> float:
    """The video's frame rate for ``tracking.frame_rate: 0``: the ``--video`` file's, else the annotation
    file's ``info.fps`` (rmpe-synth writes it), else 0 (the tracker then assumes 30)."""
    if args.video is not None:
        from ..sources import VideoSource

        source = VideoSource(args.video)
        source.cap.release()
        return float(source.fps)
    from ..io import read_json

    info = read_json(args.ann or cfg.data.val_ann, "annotation file").get("info") or {}
    fps = info.get("fps") if isinstance(info, dict) else None
    return float(fps) if isinstance(fps, (int, float)) and not isinstance(fps, bool) and fps > 0 else 0.0


def _run_tracking(args: argparse.Namespace, cfg: Any, out: str, common: dict) -> dict:
    from ..api import assign_track_ids
    from ..eval_runner import evaluate_tracking_model, format_tracking
    from ..evaluation import format_stats
    from ..tracking import PoseTracker
    from ..tracking.smoothing import KeypointSmoother

    state: dict = {"frame": 0}  # the tracker is built at the first frame, once every input has been checked

    def step(people: list) -> None:
        if "tracker" not in state:
            rate = cfg.tracking.frame_rate or _frame_rate(args, cfg)
            state["tracker"] = PoseTracker.from_config(cfg, frame_rate=rate)
            state["smoother"] = KeypointSmoother.from_config(cfg, rate or 30.0) if cfg.tracking.smooth else None
        assign_track_ids(state["tracker"], people, state["smoother"], state["frame"])
        state["frame"] += 1

    metrics = evaluate_tracking_model(cfg, track_step=step, out=out, video=args.video, **common)
    print(format_stats(metrics["stats"]))
    print(format_tracking(metrics["tracking"]))
    return metrics


@cli_main
def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
