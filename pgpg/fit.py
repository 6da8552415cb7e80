"""Fitting PGPG from ground-truth people and a detector's boxes on the same images.

1. Atomic poses: k-means++ on the normalised GT poses (:meth:`AtomicPoses.fit`).
2. Per image, detections with score >= ``min_score`` are matched one to one to the GT boxes
   (IoU >= ``iou_threshold``, highest IoU first; :func:`match_per_image`); GT boxes without
   positive width and height take no part.
3. Offsets of the matches -> one mixture per atom plus a global one (:meth:`OffsetModel.fit`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional

import numpy as np

from .atomic_poses import AtomicPoses
from .errors import PGPGError
from .matching import box_offsets, check_boxes, match_boxes
from .normalize import PoseNormalization, check_keypoints
from .offsets import OffsetModel
from .proposals import PGPGProposals, SamplingSettings


@dataclass
class ImageMatches:
    """Detection-GT pairs of all images.

    Attributes:
        gt: (P,) int64 index of the matched GT person.
        det: (P,) int64 index of its detection.
        images: (I,) the distinct images of the GT people.
        shared: (S,) the images that hold both GT people and detections.
    """

    gt: np.ndarray
    det: np.ndarray
    images: np.ndarray
    shared: np.ndarray


def match_per_image(
    gt_boxes: np.ndarray,
    gt_image_ids: np.ndarray,
    det_boxes: np.ndarray,
    det_image_ids: np.ndarray,
    iou_threshold: float,
) -> ImageMatches:
    """Match detections to GT boxes one to one within each image (:func:`match_boxes`).

    Args:
        gt_boxes: (N, 4) GT boxes, xyxy pixels; boxes without positive width and height are
            not matched.
        gt_image_ids: (N,) image of each GT box.
        det_boxes: (M, 4) detections, xyxy pixels.
        det_image_ids: (M,) image of each detection.
        iou_threshold: the smallest IoU of a match.
    """
    gt, gt_ids, dets, det_ids = gt_boxes, gt_image_ids, det_boxes, det_image_ids
    sized = (gt[:, 2] > gt[:, 0]) & (gt[:, 3] > gt[:, 1])
    g_sorted = np.argsort(gt_ids, kind="stable")
    d_sorted = np.argsort(det_ids, kind="stable")
    images = np.unique(gt_ids)
    shared = np.intersect1d(images, det_ids)
    g_lo = np.searchsorted(gt_ids[g_sorted], shared, "left")
    g_hi = np.searchsorted(gt_ids[g_sorted], shared, "right")
    d_lo = np.searchsorted(det_ids[d_sorted], shared, "left")
    d_hi = np.searchsorted(det_ids[d_sorted], shared, "right")
    pairs_g: List[np.ndarray] = []
    pairs_d: List[np.ndarray] = []
    for i in range(len(shared)):  # loop over images
        gi = g_sorted[g_lo[i] : g_hi[i]]
        gi = gi[sized[gi]]
        di = d_sorted[d_lo[i] : d_hi[i]]
        if len(gi) == 0 or len(di) == 0:
            continue
        mg, md, _ = match_boxes(gt[gi], dets[di], iou_threshold)
        pairs_g.append(gi[mg])
        pairs_d.append(di[md])
    return ImageMatches(
        gt=np.concatenate(pairs_g) if pairs_g else np.zeros(0, dtype=np.int64),
        det=np.concatenate(pairs_d) if pairs_d else np.zeros(0, dtype=np.int64),
        images=images,
        shared=shared,
    )


def fit_pgpg(
    gt_boxes: np.ndarray,
    keypoints: np.ndarray,
    gt_image_ids: np.ndarray,
    det_boxes: np.ndarray,
    det_image_ids: np.ndarray,
    det_scores: Optional[np.ndarray] = None,
    *,
    k: int = 8,
    n_components: int = 2,
    iou_threshold: float = 0.5,
    min_score: float = 0.0,
    min_samples: int = 30,
    reg_covar: float = 1e-5,
    seed: int = 0,
    n_init: int = 4,
    normalization: Optional[PoseNormalization] = None,
    settings: Optional[SamplingSettings] = None,
) -> PGPGProposals:
    """Fit PGPG (module docstring).

    Args:
        gt_boxes: (N, 4) GT person boxes, xyxy pixels (all non-crowd people, including those
            without keypoints, so that their detections are not matched elsewhere).
        keypoints: (N, K, 3) GT (x, y, v) in pixels; all v = 0 for people without keypoints.
        gt_image_ids: (N,) image of each GT person.
        det_boxes: (M, 4) detections, xyxy pixels.
        det_image_ids: (M,) image of each detection.
        det_scores: (M,) detection scores, or None (all kept).
        k: number of atomic poses.
        n_components: components per offset mixture at most.
        iou_threshold, min_score: matching settings.
        min_samples: atoms with fewer matched detections use the global mixture.
        reg_covar: covariance regularisation.
        seed: seeds k-means and EM.
        n_init: k-means seedings.
        normalization: joint indices, visibility threshold and minimum joints of the pose
            normalisation (default :class:`~pgpg.normalize.PoseNormalization`, COCO); the
            width ratios are estimated from the poses.
        settings: sampling settings stored in the model (default :class:`SamplingSettings`).

    Returns:
        A :class:`PGPGProposals`; ``fit_info`` holds the matching statistics.

    Raises:
        PGPGError: bad shapes, no usable pose, no or too few matches.
    """
    gt = check_boxes(gt_boxes, "ground-truth boxes") if len(np.asarray(gt_boxes)) else np.zeros((0, 4))
    kp = check_keypoints(keypoints, "ground-truth keypoints")
    gt_ids = np.asarray(gt_image_ids).reshape(-1)
    dets = check_boxes(det_boxes, "detections") if len(np.asarray(det_boxes)) else np.zeros((0, 4))
    det_ids = np.asarray(det_image_ids).reshape(-1)
    if not (len(gt) == len(kp) == len(gt_ids)):
        raise PGPGError(f"ground truth must pair up: {len(gt)} boxes, {len(kp)} poses, {len(gt_ids)} image ids")
    if len(dets) != len(det_ids):
        raise PGPGError(f"detections must pair up: {len(dets)} boxes, {len(det_ids)} image ids")
    if det_scores is not None:
        scores = np.asarray(det_scores, dtype=np.float64).reshape(-1)
        if len(scores) != len(dets):
            raise PGPGError(f"{len(scores)} detection scores for {len(dets)} detections")
        keep = scores >= min_score
        if len(dets) and not keep.any():
            raise PGPGError(
                f"all {len(dets)} detections score below min_score={min_score} (best {scores.max():.3g}); "
                "lower the score threshold"
            )
        dets, det_ids = dets[keep], det_ids[keep]
    if len(gt) == 0:
        raise PGPGError("no ground-truth people to fit PGPG on")
    if len(dets) == 0:
        raise PGPGError("no detections to fit PGPG on: the detection file is empty or holds no person boxes")

    atoms, labels = AtomicPoses.fit(kp, k, seed=seed, n_init=n_init, normalization=normalization)
    matches = match_per_image(gt, gt_ids, dets, det_ids, iou_threshold)
    pg, pd = matches.gt, matches.det
    if len(pg) == 0:
        if len(matches.shared) == 0:
            raise PGPGError(
                f"no detection lies on an annotated image ({len(dets)} detections, {len(matches.images)} images): "
                "the detections' image ids must be those of the annotation file"
            )
        raise PGPGError(
            f"no detection matched a ground-truth box with IoU >= {iou_threshold} ({len(dets)} detections "
            f"on {len(matches.shared)} annotated images); check the box formats and image ids"
        )
    offsets = OffsetModel.fit(
        box_offsets(gt[pg], dets[pd]),
        labels[pg],
        atoms.num_atoms,
        n_components=n_components,
        reg_covar=reg_covar,
        min_samples=min_samples,
        seed=seed,
    )
    gen = PGPGProposals(atoms, offsets, settings)
    gen.fit_info = {
        "people": int(len(gt)),
        "poses_clustered": int((labels >= 0).sum()),
        "poses_without_atom": int((labels < 0).sum()),
        "detections": int(len(dets)),
        "matched": int(len(pg)),
        "matched_without_atom": int((labels[pg] < 0).sum()),
        "images": int(len(matches.images)),
        "images_with_detections": int(len(matches.shared)),
    }
    return gen
