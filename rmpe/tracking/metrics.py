"""Multi-object tracking metrics on boxes and on poses: HOTA (DetA, AssA), IDF1, MOTA, ID switches.

The metrics themselves are computed by TrackEval's metric classes (``trackeval.metrics.HOTA``,
``Identity`` and ``CLEAR``, the official HOTA implementation of Luiten et al. 2020), fed their
per-sequence data dict directly: this module only builds that dict (per frame the ground-truth
and predicted ids, relabelled to ``0..n-1``, and the similarity matrix between them).
:func:`motmetrics_summary` recomputes IDF1, MOTA and the ID switches with motmetrics from the
same similarities, as a cross-check of two independent implementations.

Two similarities (docs/evaluation.md, "Tracking metrics"):

* **boxes**: box IoU (xyxy image px) between every ground-truth and predicted box of a frame;
* **poses**, keypoint by keypoint as PoseTrack21 evaluates keypoint tracking: each keypoint type
  j is evaluated on its own, its detections are the people whose keypoint j is labelled
  (ground truth, ``v > 0``) or predicted with a score of at least ``keypoint_threshold``, and
  the similarity of a ground-truth and a predicted keypoint is COCO's per-keypoint OKS term
  ``exp(-d^2 / (2 * area * (2 sigma_j)^2))`` with the COCO sigmas and the ground truth's area
  (PoseTrack21 uses a PCKh-based term instead; COCO-format data carries no head boxes). The K
  per-keypoint results are combined as TrackEval combines classes: HOTA, DetA, AssA (and LocA)
  are the mean over the keypoint types that occur (PoseTrack21's "Total" column); IDF1, MOTA and
  the ID switches come from the counts summed over the keypoints (each keypoint is one object),
  so a person's id switch with 17 visible keypoints counts 17 keypoint switches.

Predictions without an id (``id < 0``: a detection outside any confirmed track) are not part of
the tracker's output and are left out, as MOT benchmarks only score reported tracks.

numpy, scipy, trackeval and motmetrics only (no torch). Both libraries run with numpy 2 as they
are: the only removed numpy alias either touches (``np.asfarray`` in ``motmetrics.distances``)
sits in a function this module does not call, since the similarities are computed here.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from .association import box_iou

#: Similarity at or above which a pair counts as a match for IDF1 and MOTA (TrackEval's default).
MATCH_THRESHOLD = 0.5

#: Keys of :func:`score_data`'s result that reports and tables use, in display order.
SUMMARY_KEYS = ("HOTA", "DetA", "AssA", "IDF1", "MOTA", "IDSW")


@dataclass
class TrackFrame:
    """The people of one frame, ground truth or prediction.

    Attributes:
        ids: ``(N,)`` int64 track ids (predictions: ``-1`` for a person in no confirmed track).
        boxes: ``(N, 4)`` xyxy image px.
        keypoints: ``(N, K, 3)`` image px ``x, y`` and, for ground truth, the COCO visibility ``v``
            (``v > 0``: labelled), for predictions the keypoint score; ``None`` when there are none.
        areas: ``(N,)`` px^2 OKS scale of ground-truth people (COCO ``area``); ``None``: box areas.
    """

    ids: np.ndarray
    boxes: np.ndarray
    keypoints: Optional[np.ndarray] = None
    areas: Optional[np.ndarray] = None

    def __post_init__(self) -> None:
        self.ids = np.asarray(self.ids, dtype=np.int64).reshape(-1)
        n = len(self.ids)
        self.boxes = np.asarray(self.boxes, dtype=np.float64).reshape(n, 4)
        if self.keypoints is not None:
            kp = np.asarray(self.keypoints, dtype=np.float64)
            self.keypoints = kp if kp.ndim == 3 and len(kp) == n else kp.reshape(n, -1, 3)
        if self.areas is not None:
            self.areas = np.asarray(self.areas, dtype=np.float64).reshape(n)

    def __len__(self) -> int:
        return len(self.ids)

    def select(self, keep: np.ndarray) -> "TrackFrame":
        """The people where ``keep`` ``(N,)`` bool is True."""
        return TrackFrame(self.ids[keep], self.boxes[keep],
                          None if self.keypoints is None else self.keypoints[keep],
                          None if self.areas is None else self.areas[keep])

    def scale(self) -> np.ndarray:
        """``(N,)`` OKS areas: ``areas`` when given, else the boxes' ``w * h``."""
        if self.areas is not None:
            return self.areas
        return np.prod(np.clip(self.boxes[:, 2:] - self.boxes[:, :2], 0, None), axis=1)


def keypoint_similarity(gt_keypoints: np.ndarray, pred_keypoints: np.ndarray, areas: np.ndarray,
                        sigmas: Sequence[float]) -> np.ndarray:
    """COCO's per-keypoint OKS term between every ground-truth and predicted person.

    Args:
        gt_keypoints: ``(G, K, 2+)`` image px (only x, y are used).
        pred_keypoints: ``(P, K, 2+)`` image px.
        areas: ``(G,)`` px^2 ground-truth areas (the OKS scale).
        sigmas: K OKS sigmas.

    Returns:
        ``(G, P, K)`` ``exp(-d^2 / (2 * area * (2 sigma_k)^2))`` in [0, 1], d the distance in px.
    """
    g = np.asarray(gt_keypoints, dtype=np.float64)[..., :2]
    p = np.asarray(pred_keypoints, dtype=np.float64)[..., :2]
    d2 = np.sum(np.square(g[:, None] - p[None, :]), axis=-1)  # (G, P, K)
    var = np.square(2 * np.asarray(sigmas, dtype=np.float64))
    scale = 2 * np.maximum(np.asarray(areas, dtype=np.float64), np.finfo(np.float64).eps)[:, None, None] * var
    return np.exp(-d2 / scale)


def trackeval_data(gt_ids: Sequence[np.ndarray], pred_ids: Sequence[np.ndarray],
                   similarities: Sequence[np.ndarray]) -> Dict[str, Any]:
    """TrackEval's per-sequence data dict (what a TrackEval dataset's preprocessing returns).

    Args:
        gt_ids: per frame ``(G_t,)`` ground-truth ids (any integers, unique within a frame).
        pred_ids: per frame ``(P_t,)`` predicted ids (unique within a frame).
        similarities: per frame ``(G_t, P_t)`` similarity in [0, 1].

    Returns:
        ``num_timesteps``, ``num_gt_ids``, ``num_tracker_ids``, ``num_gt_dets``, ``num_tracker_dets``,
        and per frame ``gt_ids``, ``tracker_ids`` (relabelled to ``0..n-1`` in increasing order)
        and ``similarity_scores``.

    Raises:
        ValueError: frame counts or matrix shapes that disagree, or an id twice in one frame.
    """
    if not len(gt_ids) == len(pred_ids) == len(similarities):
        raise ValueError(f"trackeval_data: {len(gt_ids)} ground-truth frames, {len(pred_ids)} prediction frames, "
                         f"{len(similarities)} similarity matrices")
    gts = [np.asarray(i, dtype=np.int64).reshape(-1) for i in gt_ids]
    preds = [np.asarray(i, dtype=np.int64).reshape(-1) for i in pred_ids]
    sims = []
    for t, (g, p, s) in enumerate(zip(gts, preds, similarities)):
        s = np.asarray(s, dtype=np.float64).reshape(len(g), len(p))
        if len(np.unique(g)) != len(g) or len(np.unique(p)) != len(p):
            raise ValueError(f"trackeval_data: frame {t} has an id twice")
        sims.append(s)
    gt_labels = np.unique(np.concatenate(gts)) if gts else np.zeros(0, np.int64)
    pred_labels = np.unique(np.concatenate(preds)) if preds else np.zeros(0, np.int64)
    return {
        "num_timesteps": len(gts),
        "num_gt_ids": len(gt_labels),
        "num_tracker_ids": len(pred_labels),
        "num_gt_dets": int(sum(len(g) for g in gts)),
        "num_tracker_dets": int(sum(len(p) for p in preds)),
        "gt_ids": [np.searchsorted(gt_labels, g) for g in gts],
        "tracker_ids": [np.searchsorted(pred_labels, p) for p in preds],
        "similarity_scores": sims,
    }


def _metric_classes(threshold: float):
    from trackeval.metrics import CLEAR, HOTA, Identity

    config = {"THRESHOLD": float(threshold), "PRINT_CONFIG": False}
    return HOTA(), Identity(config), CLEAR(config)


def _summary(hota: Dict[str, Any], identity: Dict[str, Any], clear: Dict[str, Any]) -> Dict[str, Any]:
    """One flat dict of plain floats and ints from TrackEval's three result dicts."""
    out: Dict[str, Any] = {}
    for key in ("HOTA", "DetA", "AssA", "DetRe", "DetPr", "AssRe", "AssPr", "LocA"):
        out[key] = float(np.mean(hota[key]))  # averaged over the 19 localisation thresholds
    for key in ("IDF1", "IDP", "IDR"):
        out[key] = float(identity[key])
    for key in ("MOTA", "MOTP"):
        out[key] = float(clear[key])
    out["IDSW"] = int(clear["IDSW"])
    out["FP"] = int(clear["CLR_FP"])
    out["FN"] = int(clear["CLR_FN"])
    out["TP"] = int(clear["CLR_TP"])
    out["Frag"] = int(clear["Frag"])
    return out


def score_data(data: Dict[str, Any], threshold: float = MATCH_THRESHOLD) -> Dict[str, Any]:
    """HOTA, DetA, AssA (TrackEval ``HOTA``), IDF1 (``Identity``), MOTA and IDSW (``CLEAR``) of one data dict.

    Args:
        data: :func:`trackeval_data`'s dict.
        threshold: least similarity of a match for IDF1 and MOTA (HOTA averages over 0.05..0.95).

    Returns:
        ``HOTA``, ``DetA``, ``AssA``, ``DetRe``, ``DetPr``, ``AssRe``, ``AssPr``, ``LocA`` (means over
        the localisation thresholds), ``IDF1``, ``IDP``, ``IDR``, ``MOTA``, ``MOTP``, ``IDSW``, ``FP``,
        ``FN``, ``TP``, ``Frag``.
    """
    hota, identity, clear = _metric_classes(threshold)
    return _summary(hota.eval_sequence(data), identity.eval_sequence(data), clear.eval_sequence(data))


def box_similarities(gt: Sequence[TrackFrame], pred: Sequence[TrackFrame]) -> List[np.ndarray]:
    """Per frame the ``(G_t, P_t)`` box IoU of the ground truth and the predictions."""
    return [box_iou(g.boxes, p.boxes) for g, p in zip(gt, pred)]


def _tracked(pred: Sequence[TrackFrame]) -> List[TrackFrame]:
    return [p.select(p.ids >= 0) for p in pred]


def _check(gt: Sequence[TrackFrame], pred: Sequence[TrackFrame]) -> None:
    if len(gt) != len(pred):
        raise ValueError(f"{len(gt)} ground-truth frames but {len(pred)} prediction frames")


def evaluate_boxes(gt: Sequence[TrackFrame], pred: Sequence[TrackFrame],
                   threshold: float = MATCH_THRESHOLD) -> Dict[str, Any]:
    """Tracking metrics on boxes (IoU similarity); see :func:`score_data` for the keys.

    Args:
        gt: per frame the ground truth.
        pred: per frame the predictions (people with ``id < 0`` are left out).
        threshold: IoU of a match for IDF1 and MOTA.
    """
    _check(gt, pred)
    pred = _tracked(pred)
    data = trackeval_data([g.ids for g in gt], [p.ids for p in pred], box_similarities(gt, pred))
    return score_data(data, threshold)


def keypoint_data(gt: Sequence[TrackFrame], pred: Sequence[TrackFrame], sigmas: Sequence[float],
                  keypoint_threshold: float) -> List[Dict[str, Any]]:
    """Per keypoint type, TrackEval's data dict of the keypoint-level evaluation.

    In frame t, keypoint type j's ground-truth detections are the people whose keypoint j is
    labelled (``v > 0``), its predicted detections the people whose keypoint j scores at least
    ``keypoint_threshold``; their similarity is :func:`keypoint_similarity`'s ``[:, :, j]`` with
    the ground truth's area.

    Returns:
        K dicts (see :func:`trackeval_data`).
    """
    k = len(sigmas)
    gt_ids: List[List[np.ndarray]] = [[] for _ in range(k)]
    pred_ids: List[List[np.ndarray]] = [[] for _ in range(k)]
    sims: List[List[np.ndarray]] = [[] for _ in range(k)]
    for t, (g, p) in enumerate(zip(gt, pred)):
        gk = g.keypoints if g.keypoints is not None else np.zeros((len(g), k, 3))
        pk = p.keypoints if p.keypoints is not None else np.zeros((len(p), k, 3))
        if gk.shape[1] != k or pk.shape[1] != k:
            raise ValueError(f"frame {t}: keypoints have {gk.shape[1]} (ground truth) and {pk.shape[1]} "
                             f"(predictions) types but there are {k} sigmas")
        ks = keypoint_similarity(gk, pk, g.scale(), sigmas)  # (G, P, K)
        g_has = gk[:, :, 2] > 0
        p_has = pk[:, :, 2] >= keypoint_threshold
        for j in range(k):  # K keypoint types: each is its own evaluation
            gi, pi = np.flatnonzero(g_has[:, j]), np.flatnonzero(p_has[:, j])
            gt_ids[j].append(g.ids[gi])
            pred_ids[j].append(p.ids[pi])
            sims[j].append(ks[np.ix_(gi, pi, [j])][:, :, 0])
    return [trackeval_data(gt_ids[j], pred_ids[j], sims[j]) for j in range(k)]


def evaluate_poses(gt: Sequence[TrackFrame], pred: Sequence[TrackFrame], sigmas: Optional[Sequence[float]] = None,
                   keypoint_threshold: float = 0.2, threshold: float = MATCH_THRESHOLD) -> Dict[str, Any]:
    """Keypoint-level tracking metrics (PoseTrack21's matching with COCO's OKS term); keys as :func:`score_data`.

    HOTA, DetA, AssA, LocA and their recall/precision parts are the means over the keypoint types
    that occur (TrackEval's class average); IDF1, IDP, IDR, MOTA, MOTP and the counts come from the
    counts summed over all keypoints.

    Args:
        gt: per frame the ground truth, with ``keypoints`` ``(G, K, 3)`` (x, y, v) and ideally ``areas``.
        pred: per frame the predictions with ``keypoints`` ``(P, K, 3)`` (x, y, score); ``id < 0`` left out.
        sigmas: K OKS sigmas (None: COCO's 17).
        keypoint_threshold: least score of a predicted keypoint.
        threshold: per-keypoint similarity of a match for IDF1 and MOTA.
    """
    if sigmas is None:
        from ..keypoints import COCO_SIGMAS

        sigmas = COCO_SIGMAS
    _check(gt, pred)
    per_joint = keypoint_data(gt, _tracked(pred), sigmas, keypoint_threshold)
    hota, identity, clear = _metric_classes(threshold)
    results = {j: (hota.eval_sequence(d), identity.eval_sequence(d), clear.eval_sequence(d))
               for j, d in enumerate(per_joint)}
    if any(d["num_gt_dets"] or d["num_tracker_dets"] for d in per_joint):
        h = hota.combine_classes_class_averaged({j: r[0] for j, r in results.items()}, ignore_empty_classes=True)
    else:
        h = results[0][0]  # nothing anywhere: one empty evaluation's values
    i = identity.combine_sequences({j: r[1] for j, r in results.items()})
    c = clear.combine_sequences({j: r[2] for j, r in results.items()})
    return _summary(h, i, c)


def evaluate_tracking(gt: Sequence[TrackFrame], pred: Sequence[TrackFrame], *,
                      sigmas: Optional[Sequence[float]] = None, keypoint_threshold: float = 0.2,
                      threshold: float = MATCH_THRESHOLD, poses: bool = True) -> Dict[str, Dict[str, Any]]:
    """Tracking metrics on boxes and (when ``poses``) on keypoints: ``{"boxes": {...}, "poses": {...}}``.

    See :func:`evaluate_boxes` and :func:`evaluate_poses`.
    """
    out = {"boxes": evaluate_boxes(gt, pred, threshold)}
    if poses:
        out["poses"] = evaluate_poses(gt, pred, sigmas, keypoint_threshold, threshold)
    return out


def motmetrics_summary(gt_ids: Sequence[np.ndarray], pred_ids: Sequence[np.ndarray],
                       similarities: Sequence[np.ndarray], threshold: float = MATCH_THRESHOLD) -> Dict[str, Any]:
    """IDF1, MOTA and ID switches by motmetrics from the same inputs as :func:`trackeval_data`.

    A pair may match when its similarity is at least ``threshold``; its distance is
    ``1 - similarity`` (motmetrics minimises distance, TrackEval maximises similarity).

    Returns:
        ``IDF1``, ``MOTA`` (floats), ``IDSW``, ``FP``, ``FN`` (ints).
    """
    import motmetrics as mm

    acc = mm.MOTAccumulator(auto_id=True)
    for g, p, s in zip(gt_ids, pred_ids, similarities):
        s = np.asarray(s, dtype=np.float64).reshape(len(g), len(p))
        dist = np.where(s >= threshold - np.finfo(np.float64).eps, 1.0 - s, np.nan)
        acc.update([int(i) for i in g], [int(i) for i in p], dist)
    names = ["idf1", "mota", "num_switches", "num_false_positives", "num_misses"]
    row = mm.metrics.create().compute(acc, metrics=names, name="seq").iloc[0]
    return {"IDF1": float(row["idf1"]), "MOTA": float(row["mota"]), "IDSW": int(row["num_switches"]),
            "FP": int(row["num_false_positives"]), "FN": int(row["num_misses"])}
