"""Tracking quality and cost: rmpe's PoseTracker against ultralytics' BYTETracker and BOTSORT and IoU-only greedy matching.

Every tracker gets the same input frame by frame: the synthetic video's simulated detections
(``rmpe-synth --video``: misses, duplicates scored well below the main box, false positives, a
box error that persists from frame to frame) after ordinary box NMS (torchvision, IoU 0.7, as
ultralytics' default), with a pose per detection from a stand-in for a real SPPE:

* a detection takes the keypoints of the ground-truth person its box overlaps most (IoU >= 0.1),
  moved with the detection's box error (the affine map of the true box onto the detection box,
  so a box that is too high or too small carries its pose along),
* plus per-keypoint Gaussian noise of ``0.5 * 2 sigma_k * sqrt(area)`` px per axis (COCO sigmas:
  an OKS term near 0.78 on average, a good top-down model's), twice that for keypoints the
  annotation marks occluded (v = 1),
* keypoint scores like a real SPPE's: visible ~N(0.85, 0.08), occluded ~N(0.45, 0.15), unlabelled
  U(0, 0.1), all scaled down when the box is poorly placed (x (0.5 + 0.5 min(1, IoU / 0.7)));
* a false positive (IoU < 0.1 with everybody) gets keypoints scattered in its box, scores U(0.05, 0.35).

The trackers:

* ``rmpe_app``: ``rmpe`` given appearance features from a real model, as the pipeline gives them:
  the SPPE of ``--checkpoint`` (default ``work_dirs/quickstart/best.pth`` when present; its
  ``config.yaml`` beside it) runs on every detection's crop of the video's frames, read back from
  the mp4, and ``FastPose.forward_features`` gives each detection its feature (the row is left out
  without a checkpoint); with ``--model-poses`` every tracker also gets that model's poses instead
  of the stand-in's (the report says which);
* ``rmpe``: ``rmpe.tracking.PoseTracker`` with the ``tracking:`` defaults and ``frame_rate`` set to
  the video's (as ``rmpe-eval --track`` does), on boxes, scores and poses;
* ``rmpe_30fps``: the same without the frame rate (``frame_rate: 0``, the 30-fps noise that
  ultralytics' trackers have too): what the frame-rate setting adds;
* ``bytetrack`` / ``botsort``: ultralytics' own classes with their shipped YAML settings
  (``cfg/trackers/*.yaml``), boxes and scores only (they use no poses); BoT-SORT without ReID
  and with ``gmc_method: none`` (the synthetic camera does not move, and no frames are passed);
* ``iou``: the mmpose / rtmlib method: detections scoring at least 0.3, in score order, each take
  the still-unclaimed previous-frame track with the highest box IoU above 0.3, else a new id;
* ``ceiling``: every detection labelled with the true person its box overlaps most (IoU >= 0.5;
  per frame and person only the best-overlapping detection), the best any tracker could do
  with these detections;
* ``ceiling_runs``: the same, but a person who leaves the frame and comes back is a new label
  (one label per visible run): the best a tracker without appearance could do, since nothing
  but appearance tells who walks back in.

All trackers are scored on the detection boxes that carry their ids (HOTA, DetA, AssA by
TrackEval; IDF1, MOTA, ID switches), so only the ids differ between rows; the pose HOTA uses the
stand-in poses (keypoint-level, ``rmpe.tracking.metrics.evaluate_poses``).

Cost: ``update`` per frame on one core (``--threads 1``), on a stream of N people (5, 20, 50)
walking across a 1920x1080 frame, with 10 % duplicates and the stand-in poses; ``rmpe_app`` also
gets a 192-long non-negative feature per person (a fixed random one plus noise each frame).

    python benchmarks/bench_tracking.py                         # 3 scenarios x 5 seeds x 30 s, all trackers
    python benchmarks/bench_tracking.py --quick                 # 3 seeds x 10 s, cost at 5 and 20 people
    python benchmarks/bench_tracking.py --write BENCHMARKS.md   # replace its "## Tracking" section
    python benchmarks/bench_tracking.py --checkpoint FILE.pth   # rmpe_app with that SPPE's features ('none': no rmpe_app)

Needs ultralytics and ``lap`` (for its trackers), trackeval and motmetrics (``pip install lap``, ``.[track]``).
"""
from __future__ import annotations

import os
import sys

if "--threads" in sys.argv:  # before numpy loads its BLAS
    _t = sys.argv[sys.argv.index("--threads") + 1]
    for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[_v] = _t

import argparse  # noqa: E402
import inspect  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from types import SimpleNamespace  # noqa: E402
from typing import Dict, List  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rmpe.keypoints import COCO_SIGMAS  # noqa: E402
from rmpe.tracking import PoseTracker  # noqa: E402
from rmpe.tracking.association import box_iou  # noqa: E402
from rmpe.tracking.metrics import TrackFrame, evaluate_boxes, evaluate_poses  # noqa: E402

SIGMAS = np.asarray(COCO_SIGMAS, np.float64)
K = len(SIGMAS)
TRACKERS = ("rmpe_app", "rmpe", "rmpe_30fps", "bytetrack", "botsort", "iou", "ceiling", "ceiling_runs")
NMS_IOU = 0.7
TIMED = ("rmpe_app", "rmpe", "bytetrack", "botsort", "iou")  # the trackers whose cost is measured


# ----------------------------------------------------------------------------- videos


def make_video(work: Path, scenario: str, seed: int, seconds: float, people: int, fps: float, size,
               keep_video: bool = False) -> Path:
    """The annotations and detections of one synthetic video (cached in ``work``); with ``keep_video``
    also its mp4 (``<stem>.mp4``), for runs that look at the pixels."""
    from rmpe.data.synthetic import generate_video

    stem = work / f"{scenario}_s{seed}_{seconds:g}s_{people}p_{fps:g}fps_{size[0]}x{size[1]}"
    have = (stem.parent / f"{stem.name}.detections.json").exists()
    if not have or (keep_video and not Path(str(stem) + ".mp4").exists()):
        kwargs = dict(seed=seed, fps=fps, size=size, num_people=people)
        if "scenario" in inspect.signature(generate_video).parameters:
            kwargs["scenario"] = scenario
        elif scenario != "lanes":
            raise SystemExit(f"this checkout's generate_video has no scenario '{scenario}' (only lanes)")
        generate_video(str(stem) + ".mp4", seconds, **kwargs)
        if not keep_video:
            os.unlink(str(stem) + ".mp4")  # only the annotations and detections are used
    return stem


def load_video(stem: Path):
    """Per frame: ground truth (TrackFrame with areas) and detections (boxes xyxy, scores)."""
    ann = json.loads(Path(f"{stem}.annotations.json").read_text())
    dets = json.loads(Path(f"{stem}.detections.json").read_text())
    images = sorted(ann["images"], key=lambda i: i["frame_index"])
    per_image: Dict[int, list] = {i["id"]: [] for i in images}
    for a in ann["annotations"]:
        if not a.get("iscrowd", 0):
            per_image[a["image_id"]].append(a)
    det_per: Dict[int, list] = {i["id"]: [] for i in images}
    for d in dets:
        det_per.setdefault(d["image_id"], []).append(d)
    frames = []
    for image in images:
        anns = per_image[image["id"]]
        boxes = np.array([[x, y, x + w, y + h] for x, y, w, h in (a["bbox"] for a in anns)], np.float64).reshape(-1, 4)
        kp = np.array([a["keypoints"] for a in anns], np.float64).reshape(-1, K, 3)
        areas = np.array([a.get("area") or 0 for a in anns], np.float64)
        areas = np.where(areas > 0, areas, np.prod(boxes[:, 2:] - boxes[:, :2], axis=1))
        gt = TrackFrame([a["track_id"] for a in anns], boxes, kp, areas)
        d = det_per.get(image["id"], [])
        db = np.array([[x, y, x + w, y + h] for x, y, w, h in (r["bbox"] for r in d)], np.float64).reshape(-1, 4)
        ds = np.array([r["score"] for r in d], np.float64)
        frames.append((gt, db, ds))
    return frames


DEFAULT_CHECKPOINT = ROOT / "work_dirs" / "quickstart" / "best.pth"


def load_sppe(checkpoint: Path):
    """The RMPE model of a checkpoint (config: ``config.yaml`` beside it), eval mode, CPU."""
    import torch

    from rmpe.config import load_config
    from rmpe.pipeline import load_model

    checkpoint = Path(checkpoint)
    cfg = checkpoint.parent / "config.yaml"
    if not checkpoint.exists() or not cfg.exists():
        raise SystemExit(f"{checkpoint}: no such checkpoint, or no config.yaml beside it (--checkpoint FILE)")
    return load_model(load_config(cfg), str(checkpoint), torch.device("cpu"))


def sppe_on_video(model, mp4: Path, boxes_per_frame: List[np.ndarray]):
    """Run the SPPE on every detection's crop of the video's frames (read back from the mp4, as a user's
    video would be), no flip test. Per frame: keypoints ``(D, K, 2)`` image px, scores ``(D, K)`` and
    appearance features ``(D, C)`` (``FastPose.forward_features``), all float64."""
    import cv2
    import torch

    cap = cv2.VideoCapture(str(mp4))
    out = []
    try:
        for boxes in boxes_per_frame:
            ok, frame = cap.read()
            if not ok:
                raise SystemExit(f"{mp4}: fewer frames than annotated")
            if len(boxes) == 0:
                out.append((np.zeros((0, K, 2)), np.zeros((0, K)), None))
                continue
            with torch.no_grad():
                kp, ks, f = model.predict([frame], np.zeros(len(boxes), np.int64), boxes, flip=False, features=True)
            out.append((kp.double().numpy(), ks.double().numpy(), None if f is None else f.double().numpy()))
    finally:
        cap.release()
    return out


def box_nms(boxes: np.ndarray, scores: np.ndarray, iou: float = NMS_IOU) -> np.ndarray:
    """Indices kept by ordinary greedy box NMS (torchvision), highest score first."""
    import torch
    from torchvision.ops import nms

    if len(boxes) == 0:
        return np.zeros(0, np.int64)
    return nms(torch.as_tensor(boxes), torch.as_tensor(scores), iou).numpy()


def stand_in_poses(rng: np.random.Generator, boxes: np.ndarray, gt: TrackFrame):
    """The stand-in SPPE (module docstring): ``(D, K, 2)`` keypoints and ``(D, K)`` scores for detections."""
    d = len(boxes)
    kps = np.zeros((d, K, 2))
    scores = np.zeros((d, K))
    iou = box_iou(boxes, gt.boxes) if len(gt) else np.zeros((d, 0))
    for i in range(d):
        b = boxes[i]
        j = int(np.argmax(iou[i])) if iou.shape[1] else -1
        if j < 0 or iou[i, j] < 0.1:  # false positive: nothing real under the box
            kps[i] = b[:2] + rng.uniform(0, 1, (K, 2)) * (b[2:] - b[:2])
            scores[i] = rng.uniform(0.05, 0.35, K)
            continue
        g, kp = gt.boxes[j], gt.keypoints[j]
        scale = (b[2:] - b[:2]) / np.maximum(g[2:] - g[:2], 1e-6)
        moved = b[:2] + (kp[:, :2] - g[:2]) * scale
        v = kp[:, 2]
        std = 0.5 * 2 * SIGMAS * np.sqrt(max(gt.areas[j], 1.0)) * np.where(v == 1, 2.0, 1.0)
        moved = moved + rng.normal(0, 1, (K, 2)) * std[:, None]
        centre = (b[:2] + b[2:]) / 2
        moved[v == 0] = centre + rng.normal(0, 0.1, (int((v == 0).sum()), 2)) * (b[2:] - b[:2])
        s = np.where(v == 2, rng.normal(0.85, 0.08, K), np.where(v == 1, rng.normal(0.45, 0.15, K),
                                                                   rng.uniform(0, 0.1, K)))
        s *= 0.5 + 0.5 * min(1.0, iou[i, j] / 0.7)
        kps[i], scores[i] = moved, np.clip(s, 0.0, 1.0)
    return kps, scores


def prepare_frames(frames, seed: int, model=None, mp4=None, model_poses: bool = False):
    """After NMS, with stand-in poses (or, with ``model_poses``, the model's) and, with a ``model``, the SPPE's
    appearance features of each detection's crop of the video: per frame ``(gt, boxes, scores, keypoints,
    keypoint_scores, features)`` (features ``(D, C)`` or None)."""
    out = []
    for t, (gt, db, ds) in enumerate(frames):
        keep = box_nms(db, ds)
        db, ds = db[keep], ds[keep]
        kps, ks = stand_in_poses(np.random.default_rng([seed, t, 7]), db, gt)
        out.append((gt, db, ds, kps, ks, None))
    if model is not None:
        sppe = sppe_on_video(model, mp4, [f[1] for f in out])
        out = [(gt, db, ds, mk if model_poses else kps, mks if model_poses else ks, feats)
               for (gt, db, ds, kps, ks, _), (mk, mks, feats) in zip(out, sppe)]
    return out


# ----------------------------------------------------------------------------- trackers


class _Detections:
    """The small results object ultralytics' trackers read: ``conf``, ``cls``, ``xywh`` (centre), ``xyxy``,
    ``len`` and boolean indexing."""

    def __init__(self, xyxy: np.ndarray, conf: np.ndarray):
        self.xyxy = np.asarray(xyxy, np.float32).reshape(-1, 4)
        self.conf = np.asarray(conf, np.float32).reshape(-1)
        self.cls = np.zeros(len(self.conf), np.float32)

    @property
    def xywh(self) -> np.ndarray:
        b = self.xyxy
        return np.stack([(b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2, b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]], 1)

    def __len__(self) -> int:
        return len(self.conf)

    def __getitem__(self, index) -> "_Detections":
        return _Detections(self.xyxy[index], self.conf[index])


class Ultralytics:
    """ultralytics' BYTETracker or BOTSORT with the settings of its shipped YAML file."""

    def __init__(self, kind: str):
        import yaml
        from ultralytics.cfg import ROOT as UROOT

        try:
            import lap  # noqa: F401  (ultralytics' trackers import it; without it they try to pip-install it)
        except ImportError:
            raise SystemExit("bench_tracking: ultralytics' BYTETracker and BOTSORT need the 'lap' package "
                             "(pip install lap), or leave them out with --trackers rmpe,iou,ceiling") from None

        self.kind = kind
        settings = yaml.safe_load((Path(UROOT) / "cfg" / "trackers" / f"{kind}.yaml").read_text())
        if kind == "botsort":
            settings.update(gmc_method="none", with_reid=False)
        self.args = SimpleNamespace(**settings)
        self.reset()

    def reset(self) -> None:
        from ultralytics.trackers import BOTSORT, BYTETracker

        self.tracker = (BOTSORT if self.kind == "botsort" else BYTETracker)(self.args)

    def update(self, boxes, scores, keypoints, keypoint_scores) -> np.ndarray:
        ids = np.full(len(boxes), -1, np.int64)
        rows = self.tracker.update(_Detections(boxes, scores))
        for row in np.asarray(rows).reshape(-1, 8):
            ids[int(row[7])] = int(row[4])
        return ids


class Rmpe:
    """rmpe's PoseTracker with the ``tracking:`` defaults and the video's frame rate (``tracking.frame_rate``);
    with ``appearance`` it is given the SPPE's features (as the pipeline gives them), else none."""

    def __init__(self, frame_rate: float = 0.0, appearance: bool = False):
        from rmpe.config import TrackingConfig

        self.tracker = PoseTracker.from_config(TrackingConfig(), frame_rate=frame_rate)
        self.appearance = appearance

    def reset(self) -> None:
        self.tracker.reset()

    def update(self, boxes, scores, keypoints, keypoint_scores, features=None) -> np.ndarray:
        return self.tracker.update(boxes, scores, keypoints, keypoint_scores,
                                   features if self.appearance else None)


class GreedyIoU:
    """IoU-only greedy matching against the previous frame (mmpose / rtmlib): no motion model, no memory."""

    def __init__(self, threshold: float = 0.3, min_score: float = 0.3):
        self.threshold, self.min_score = threshold, min_score
        self.reset()

    def reset(self) -> None:
        self.last_boxes, self.last_ids, self.next_id = np.zeros((0, 4)), np.zeros(0, np.int64), 1

    def update(self, boxes, scores, keypoints, keypoint_scores) -> np.ndarray:
        ids = np.full(len(boxes), -1, np.int64)
        iou = box_iou(boxes, self.last_boxes) if len(self.last_boxes) else np.zeros((len(boxes), 0))
        free = np.ones(len(self.last_ids), bool)
        for i in np.argsort(-scores, kind="stable"):
            if scores[i] < self.min_score:
                continue
            cand = np.where(free, iou[i], -1.0) if len(free) else np.zeros(0)
            j = int(np.argmax(cand)) if len(cand) else -1
            if j >= 0 and cand[j] > self.threshold:
                ids[i], free[j] = self.last_ids[j], False
            else:
                ids[i], self.next_id = self.next_id, self.next_id + 1
        keep = ids >= 0
        self.last_boxes, self.last_ids = boxes[keep], ids[keep]
        return ids


def ceiling_ids(boxes: np.ndarray, gt: TrackFrame, threshold: float = 0.5) -> np.ndarray:
    """Each detection labelled with its best-overlapping true person (IoU >= threshold; per person only the best)."""
    ids = np.full(len(boxes), -1, np.int64)
    if not len(boxes) or not len(gt):
        return ids
    iou = box_iou(boxes, gt.boxes)
    best = np.argmax(iou, axis=1)
    for j in range(len(gt)):
        mine = np.flatnonzero((best == j) & (iou[:, j] >= threshold))
        if len(mine):
            ids[mine[np.argmax(iou[mine, j])]] = gt.ids[j]
    return ids


def build(name: str, frame_rate: float = 0.0):
    if name == "rmpe":
        return Rmpe(frame_rate)
    if name == "rmpe_app":
        return Rmpe(frame_rate, appearance=True)
    if name == "rmpe_30fps":
        return Rmpe(0.0)
    if name in ("bytetrack", "botsort"):
        return Ultralytics(name)
    if name == "iou":
        return GreedyIoU()
    raise ValueError(name)


def run_tracker(name: str, frames, poses: bool, frame_rate: float):
    """Scores of one tracker on one prepared video."""
    preds = []
    if name in ("ceiling", "ceiling_runs"):
        run: Dict[int, int] = {}  # person -> visible-run number
        present: set = set()
        for gt, db, ds, kps, ks, _ in frames:
            ids = ceiling_ids(db, gt)
            if name == "ceiling_runs":
                now = {int(i) for i in gt.ids}
                for i in now - present:
                    run[i] = run.get(i, -1) + 1
                present = now
                ids = np.where(ids >= 0, ids * 1000 + np.array([run.get(int(i), 0) for i in ids]), -1)
            preds.append(TrackFrame(ids, db, np.concatenate([kps, ks[..., None]], axis=2)))
    else:
        tracker = build(name, frame_rate)
        for gt, db, ds, kps, ks, feats in frames:
            extra = (feats,) if isinstance(tracker, Rmpe) else ()  # only rmpe takes appearance features
            ids = tracker.update(db, ds, kps, ks, *extra)
            preds.append(TrackFrame(ids, db, np.concatenate([kps, ks[..., None]], axis=2)))
    gts = [f[0] for f in frames]
    m = evaluate_boxes(gts, preds)
    if poses:
        m["pose_HOTA"] = evaluate_poses(gts, preds, SIGMAS, keypoint_threshold=0.2)["HOTA"]
    return m


# ----------------------------------------------------------------------------- cost


def cost_stream(n: int, frames: int, template: np.ndarray, seed: int = 0, feature_dim: int = 192):
    """N people walking across 1920x1080 (boxes ~60x150 px, the template pose), 10 % duplicates; each person
    a random non-negative ``feature_dim`` feature (192: the ResNet-18 SPPE's) plus noise each frame."""
    rng = np.random.default_rng(seed)
    looks = np.abs(rng.normal(0, 1, (n, feature_dim)))
    pos = rng.uniform([0, 100], [1860, 930], (n, 2))
    vel = rng.normal(0, 4, (n, 2)) * [1, 0.3]
    wh = np.array([60.0, 150.0]) * rng.uniform(0.7, 1.3, (n, 1))
    out = []
    for _ in range(frames):
        pos = pos + vel
        vel[(pos[:, 0] < 0) | (pos[:, 0] > 1860), 0] *= -1
        boxes = np.concatenate([pos, pos + wh], axis=1) + rng.normal(0, 2, (n, 4))
        scores = rng.uniform(0.6, 0.95, n)
        dup = rng.random(n) < 0.1
        boxes = np.concatenate([boxes, boxes[dup] + rng.normal(0, 5, (int(dup.sum()), 4))])
        scores = np.concatenate([scores, scores[dup] * 0.4])
        kp = boxes[:, None, :2] + template[None, :, :2] * (boxes[:, None, 2:] - boxes[:, None, :2])
        kp = kp + rng.normal(0, 2, kp.shape)
        ks = np.clip(rng.normal(0.8, 0.1, (len(boxes), K)), 0, 1)
        feats = looks + np.abs(rng.normal(0, 0.3, looks.shape))
        feats = np.concatenate([feats, feats[dup]])
        out.append((boxes, scores, kp, ks, feats))
    return out


def time_tracker(name: str, stream, warmup: int = 10) -> float:
    """Mean CPU ms of this thread per ``update`` after ``warmup`` frames (thread CPU time: on a shared
    machine, other processes' load does not count, as wall time would)."""
    tracker = build(name, 30.0)
    times = []
    for t, (boxes, scores, kp, ks, feats) in enumerate(stream):
        t0 = time.thread_time()
        if isinstance(tracker, Rmpe):
            tracker.update(boxes, scores, kp, ks, feats)
        else:
            tracker.update(boxes, scores, kp, ks)
        if t >= warmup:
            times.append(time.thread_time() - t0)
    return 1e3 * float(np.mean(times))


# ----------------------------------------------------------------------------- report


COLUMNS = ("HOTA", "AssA", "IDF1", "MOTA", "IDSW", "pose_HOTA")


def _cell(key: str, value) -> str:
    return f"{value:.0f}" if key == "IDSW" else f"{value:.3f}"


def report(results, scenarios, seeds, trackers, costs, args, load: str) -> str:
    columns = [c for c in COLUMNS if c != "pose_HOTA" or not args.no_poses]
    lines = ["## Tracking (`benchmarks/bench_tracking.py`)", ""]
    lines.append(f"Command: `python benchmarks/bench_tracking.py {' '.join(args.argv)}`".rstrip() + "  ")
    lines.append(f"Machine: {platform.machine()}, {os.cpu_count()} logical CPUs, "
                 f"Python {platform.python_version()}, numpy {np.__version__}; load average {load}; "
                 f"{args.threads} thread(s).  ")
    lines.append(f"Videos: `rmpe-synth --video` {args.seconds:g} s at {args.fps:g} fps, {args.size}, "
                 f"{args.people} people, seeds {', '.join(map(str, seeds))}; simulated detections after box NMS "
                 f"(IoU {NMS_IOU}); poses from "
                 + (f"the model `{args.checkpoint}`" if args.model_poses
                    else "the stand-in SPPE (see the script's docstring)")
                 + (f"; `rmpe_app`: rmpe given the appearance features of `{args.checkpoint}` on each detection's crop "
                    "of the mp4 frames" if args.model is not None else "") + ".")
    lines.append("What the rows are, where rmpe loses and why: [docs/tracking.md](docs/tracking.md#quality-and-cost-"
                 "benchmarksbench_trackingpy).")
    lines.append("")
    lines.append("Median over seeds (boxes: HOTA, AssA, IDF1, MOTA, ID switches; pose HOTA keypoint-level):")
    lines.append("")
    for sc in scenarios:
        lines.append(f"**{sc}**")
        lines.append("")
        lines.append("| tracker | " + " | ".join(columns) + " |")
        lines.append("|---|" + "---:|" * len(columns))
        for tr in trackers:
            rows = [results[sc][s][tr] for s in seeds]
            cells = [_cell(c, float(np.median([r[c] for r in rows]))) for c in columns]
            lines.append(f"| {tr} | " + " | ".join(cells) + " |")
        lines.append("")
    lines.append("Per seed (HOTA / IDF1 / ID switches on boxes):")
    lines.append("")
    lines.append("| scenario | seed | " + " | ".join(trackers) + " |")
    lines.append("|---|---:|" + "---|" * len(trackers))
    for sc in scenarios:
        for s in seeds:
            cells = [f"{results[sc][s][tr]['HOTA']:.3f} / {results[sc][s][tr]['IDF1']:.3f} / "
                     f"{results[sc][s][tr]['IDSW']}" for tr in trackers]
            lines.append(f"| {sc} | {s} | " + " | ".join(cells) + " |")
    lines.append("")
    if costs:
        names = [t for t in trackers if t in TIMED]
        lines.append(f"Tracker cost, CPU ms per frame (`update`, thread CPU time, mean over {args.cost_frames} "
                     f"frames after 10, {args.threads} thread; N people + 10 % duplicates, 1920x1080):")
        lines.append("")
        lines.append("| people | " + " | ".join(names) + " |")
        lines.append("|---:|" + "---:|" * len(names))
        for n, row in costs.items():
            lines.append(f"| {n} | " + " | ".join(f"{row[t]:.2f}" for t in names) + " |")
        lines.append("")
    return "\n".join(lines)


def write_section(path: Path, text: str) -> None:
    """Replace (or append) the ``## Tracking`` section of a markdown file, atomically."""
    from rmpe.io import atomic_write_text

    old = path.read_text() if path.exists() else "# Benchmarks\n"
    lines = old.splitlines()
    start = next((i for i, l in enumerate(lines) if l.startswith("## Tracking")), None)
    if start is None:
        new = old.rstrip("\n") + "\n\n" + text + "\n"
    else:
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
        new = "\n".join(lines[:start] + text.splitlines() + ([""] + lines[end:] if end < len(lines) else [])) + "\n"
    atomic_write_text(path, new)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenarios", default="lanes,crossing,crowd")
    ap.add_argument("--seeds", default="0,1,2,3,4", help="comma-separated video seeds")
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--fps", type=float, default=10.0)
    ap.add_argument("--people", type=int, default=6)
    ap.add_argument("--size", default="640x480")
    ap.add_argument("--trackers", default=",".join(TRACKERS))
    ap.add_argument("--cost-people", default="5,20,50", help="people per frame of the cost measurement ('' skips it)")
    ap.add_argument("--cost-frames", type=int, default=200)
    ap.add_argument("--no-poses", action="store_true", help="skip the keypoint-level pose HOTA")
    ap.add_argument("--quick", action="store_true", help="3 seeds x 10 s videos, cost at 5 and 20 people")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT),
                    help="SPPE checkpoint (config.yaml beside it) run on every detection's crop for the appearance "
                         "features of rmpe_app (default: the quickstart one); 'none' drops rmpe_app")
    ap.add_argument("--model-poses", action="store_true",
                    help="use that model's poses instead of the stand-in's for every tracker")
    ap.add_argument("--work", default=str(ROOT / "work_dirs" / "bench_tracking"), help="folder caching the videos")
    ap.add_argument("--json", default=None, help="also write every number here")
    ap.add_argument("--write", default=None, help="replace the '## Tracking' section of this markdown file")
    args = ap.parse_args(argv)
    args.argv = list(argv)
    if args.quick:
        args.seeds, args.seconds, args.cost_people, args.cost_frames = "0,1,2", 10.0, "5,20", 100
    try:
        import torch

        torch.set_num_threads(args.threads)
    except ImportError:
        pass
    scenarios = [s for s in args.scenarios.split(",") if s]
    seeds = [int(s) for s in args.seeds.split(",") if s]
    trackers = [t for t in args.trackers.split(",") if t]
    model = None
    if args.checkpoint.lower() != "none" and ("rmpe_app" in trackers or args.model_poses):
        if not Path(args.checkpoint).exists() and args.checkpoint == str(DEFAULT_CHECKPOINT):
            print(f"no {DEFAULT_CHECKPOINT}: rmpe_app left out (train the quickstart model or pass --checkpoint)",
                  file=sys.stderr)
        else:
            model = load_sppe(Path(args.checkpoint))
    if model is None:
        trackers = [t for t in trackers if t != "rmpe_app"]
        args.model_poses = False
    args.model = model
    size = tuple(int(v) for v in args.size.lower().split("x"))
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())

    results: Dict[str, Dict[int, Dict[str, dict]]] = {}
    template = None
    for sc in scenarios:
        results[sc] = {}
        for seed in seeds:
            t0 = time.perf_counter()
            stem = make_video(work, sc, seed, args.seconds, args.people, args.fps, size, keep_video=model is not None)
            frames = prepare_frames(load_video(stem), seed, model, Path(str(stem) + ".mp4"), args.model_poses)
            if template is None:
                for gt, *_ in frames:
                    if len(gt):
                        b, kp = gt.boxes[0], gt.keypoints[0]
                        template = (kp[:, :2] - b[:2]) / np.maximum(b[2:] - b[:2], 1e-6)
                        break
            results[sc][seed] = {tr: run_tracker(tr, frames, not args.no_poses, args.fps) for tr in trackers}
            row = "  ".join(f"{tr} {results[sc][seed][tr]['HOTA']:.3f}/{results[sc][seed][tr]['IDF1']:.3f}/"
                            f"{results[sc][seed][tr]['IDSW']}" for tr in trackers)
            print(f"{sc} seed {seed} ({time.perf_counter() - t0:.1f} s): {row}", file=sys.stderr)
    costs: Dict[int, Dict[str, float]] = {}
    for n in [int(v) for v in args.cost_people.split(",") if v]:
        stream = cost_stream(n, args.cost_frames + 10, template if template is not None else np.zeros((K, 2)) + 0.5)
        costs[n] = {tr: time_tracker(tr, stream) for tr in trackers if tr in TIMED}
        print(f"cost at {n} people: " + "  ".join(f"{t} {v:.2f} ms" for t, v in costs[n].items()), file=sys.stderr)
    text = report(results, scenarios, seeds, trackers, costs, args, load)
    print(text)
    if args.json:
        from rmpe.io import atomic_write_json

        atomic_write_json(args.json, {"results": {sc: {str(s): r for s, r in v.items()} for sc, v in results.items()},
                                      "costs": costs, "argv": args.argv})
    if args.write:
        write_section(Path(args.write), text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
