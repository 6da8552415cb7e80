"""rmpe-eval: COCO keypoint AP of a pose model on a COCO-format data set.

    rmpe-eval --config configs/coco/fastpose_se50_256x192.yaml --checkpoint fast_res50_256x192.pth \\
        --ann person_keypoints_val2017.json --images val2017/ --boxes gt --flip

Runs under ``torchrun --nproc_per_node N`` too: every rank takes a slice of the images,
rank 0 merges the results and evaluates once.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from typing import Any, List, Optional

from ..errors import RMPEError, cli_main


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="rmpe-eval", description="Score a pose model with COCO keypoint AP (pycocotools).")
    p.add_argument("--config", default=None, help="experiment YAML (default: built-in FastPose-50 COCO settings)")
    p.add_argument("--checkpoint", required=True, help="pose model weights (AlphaPose FastPose .pth or rmpe-train checkpoint)")
    p.add_argument("--ann", default=None, help="COCO person_keypoints annotation JSON (default data.val_ann)")
    p.add_argument("--images", default=None, help="image folder (default data.val_images)")
    p.add_argument("--boxes", default=None,
                   help="gt (ground-truth boxes of the people with labelled keypoints), detector (the config's detector) or a COCO detection results .json "
                        "(default eval.boxes)")
    p.add_argument("--flip", action="store_true", default=None, help="flip test (default eval.flip)")
    p.add_argument("--nms", choices=("pose", "oks", "none"), default=None, help="redundant-pose removal (default pose_nms.type)")
    p.add_argument("--decoder", choices=("argmax", "dark"), default=None, help="heatmap decoder (default codec.decoder)")
    p.add_argument("--score", choices=("pose_nms", "box", "box_x_keypoints"), default=None,
                   help="person ranking score written to the results (default eval.score)")
    p.add_argument("--out", default="results/keypoints_results.json",
                   help="COCO keypoint results JSON; metrics go to <out>.metrics.json (default %(default)s)")
    p.add_argument("--batch", type=int, default=None, help="images per pipeline step (default demo.batch)")
    p.add_argument("--device", default=None, help="auto (default), cpu, cuda, cuda:N")
    p.add_argument("--tune-nms", action="store_true",
                   help="search pose NMS (delta1, delta2, mu, gamma) on this set maximising AP and write them as YAML")
    p.add_argument("--tune-out", default=None, help="YAML for --tune-nms (default <out dir>/pose_nms_tuned.yaml)")
    p.add_argument("--max-images", type=int, default=None, help="evaluate only the first N images")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="config override, repeatable")
    return p


def _detector(cfg, boxes: str, ann: str, device):
    from ..api import build_person_detector
    from detectors import build_detector

    if boxes == "gt":
        # The usual ground-truth-box protocol: only people with labelled keypoints get a box
        # (COCOeval ignores the others, so poses there could only count as false positives).
        return build_detector(cfg.detector, type="gt", ann=ann, require_keypoints=True)
    if boxes == "detector":
        return build_person_detector(cfg, None, device)
    if boxes.lower().endswith(".json"):
        if not os.path.isfile(boxes):
            raise RMPEError(f"detection file not found: {boxes}")
        return build_detector(cfg.detector, type="file", file=boxes, ann=ann)
    raise RMPEError(f"--boxes must be gt, detector or a .json detection file, got '{boxes}'")


def run(args: argparse.Namespace, model: Any = None) -> Optional[dict]:
    """Evaluate as the CLI does. ``model`` replaces the checkpoint's model (a test hook:
    anything with ``predict(images, image_index, boxes, ...)`` like :class:`rmpe.model.RMPEModel`).

    Returns the metrics on rank 0, None on the other ranks.
    """
    from ..api import as_config, build_model
    from ..distributed import barrier, init_distributed, resolve_device, shutdown
    from ..eval_runner import load_dataset_images, merge_in_image_order, run_pipeline_on_images
    from ..pipeline import PosePipeline

    cfg = as_config(args.config, args.overrides)
    ann = args.ann or cfg.data.val_ann
    images = args.images or cfg.data.val_images
    if not ann:
        raise RMPEError("no annotation file: pass --ann or set data.val_ann")
    if not images:
        raise RMPEError("no image folder: pass --images or set data.val_images")
    dataset = load_dataset_images(ann, images)
    batch = args.batch or cfg.demo.batch
    if batch < 1:
        raise RMPEError(f"--batch must be at least 1, got {batch}")
    device = resolve_device(args.device or cfg.device)
    keypoint_set = cfg.data.keypoint_set()
    if model is None:
        if not os.path.isfile(args.checkpoint):
            raise RMPEError(f"checkpoint not found: {args.checkpoint}")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            model = build_model(cfg, args.checkpoint, device)
    info = init_distributed(device.type)
    try:
        detector = _detector(cfg, args.boxes or cfg.eval.boxes, ann, device)
        nms = args.nms or cfg.pose_nms.type
        pipeline = PosePipeline(
            model, detector, device=device, nms="none" if args.tune_nms else nms,
            nms_params=cfg.pose_nms, oks_threshold=cfg.pose_nms.oks_threshold,
            sigmas=keypoint_set.sigmas or None,
            flip=cfg.eval.flip if args.flip is None else args.flip,
            decoder=args.decoder or cfg.codec.decoder, sppe_batch=cfg.eval.batch,
            score=args.score or cfg.eval.score, keypoint_threshold=cfg.eval.keypoint_threshold,
            half=cfg.demo.half,
        )
        ids = dataset.ids[: args.max_images] if args.max_images else dataset.ids
        mine = ids[info.rank::info.world_size]
        progress = not args.quiet and info.is_main
        if args.tune_nms:
            return _tune(args, cfg, pipeline, dataset, mine, ids, batch, progress, info, keypoint_set)
        results, missing = run_pipeline_on_images(pipeline, dataset, mine, batch, progress)
        out = args.out
        if info.enabled:
            shard = f"{out}.rank{info.rank}.json"
            from ..io import atomic_write_json

            atomic_write_json(shard, results)
            barrier(info)
            if not info.is_main:
                return None
            shards = []
            for r in range(info.world_size):
                path = f"{out}.rank{r}.json"
                with open(path, "r", encoding="utf-8") as fh:
                    shards.append(json.load(fh))
                os.unlink(path)
            results = merge_in_image_order(shards, ids)
        return _score(results, dataset, out, keypoint_set, missing, args, ids)
    finally:
        shutdown(info)


def _score(results, dataset, out, keypoint_set, missing, args, ids) -> dict:
    from ..eval_runner import write_results_and_metrics
    from ..evaluation import evaluate, format_stats

    metrics = evaluate(results, dataset.ann_file, sigmas=keypoint_set.sigmas or None, image_ids=ids)
    metrics = {k: v for k, v in metrics.items()}
    metrics.update({"num_images": len(ids), "num_results": len(results), "unreadable_images": len(missing),
                    "checkpoint": args.checkpoint, "ann": dataset.ann_file})
    path = write_results_and_metrics(results, out, metrics)
    print(format_stats(metrics["stats"]))
    print(f"rmpe-eval: {len(results)} results on {len(ids)} images -> {out}; metrics -> {path}", file=sys.stderr)
    return metrics


def _tune(args, cfg, pipeline, dataset, mine, ids, batch, progress, info, keypoint_set) -> Optional[dict]:
    if info.enabled:
        raise RMPEError("--tune-nms runs in one process; start it without torchrun")
    import cv2
    from pose_nms import search_params
    from tqdm import tqdm

    from ..evaluation import coco_objective

    boxes, box_scores, kps, kp_scores, image_ids = [], [], [], [], []
    for start in tqdm(range(0, len(mine), batch), disable=not progress, desc="proposals", unit="batch"):
        chunk = [i for i in mine[start:start + batch]]
        frames, good = [], []
        for image_id in chunk:
            img = cv2.imread(dataset.paths[image_id], cv2.IMREAD_COLOR) if os.path.isfile(dataset.paths[image_id]) else None
            if img is not None:
                frames.append(img)
                good.append(image_id)
        if not frames:
            continue
        for image_id, (b, bs, k, ks) in zip(good, pipeline.proposals(frames, good)):
            boxes.append(b), box_scores.append(bs), kps.append(k), kp_scores.append(ks), image_ids.append(image_id)
    out_yaml = args.tune_out or os.path.join(os.path.dirname(os.path.abspath(args.out)), "pose_nms_tuned.yaml")
    objective = coco_objective(dataset.ann_file, sigmas=keypoint_set.sigmas or None, image_ids=ids)
    result = search_params(boxes, box_scores, kps, kp_scores, image_ids, objective, initial=cfg.pose_nms, out_path=out_yaml)
    print(f"rmpe-eval: pose NMS tuned: AP {result.initial_value:.4f} -> {result.best_value:.4f}; "
          f"parameters written to {out_yaml} (use with --set pose_nms.params_file={out_yaml})")
    return {"initial_AP": result.initial_value, "tuned_AP": result.best_value, "params_file": out_yaml}


@cli_main
def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
