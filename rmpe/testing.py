"""Small factories of synthetic heatmaps, poses and boxes shared by the tests and benchmarks.

Everything is deterministic given a ``numpy.random.Generator``; arrays are numpy float64
unless stated, so tests can build plain-loop references from them.
"""
from __future__ import annotations

import math
from typing import Dict, List, Optional, Tuple

import numpy as np


def gaussian_heatmaps(centres: np.ndarray, size: Tuple[int, int], sigma: float = 2.0) -> np.ndarray:
    """Render ``exp(-d^2 / 2 sigma^2)`` maps with plain numpy.

    Args:
        centres: (N,K,2) sub-pixel centres (x, y) in heatmap pixels.
        size: (h, w).

    Returns:
        (N,K,h,w) float32 heatmaps with peak value 1 at the exact centre.
    """
    h, w = size
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    c = np.asarray(centres, dtype=np.float64)
    d2 = (xs - c[..., 0, None, None]) ** 2 + (ys - c[..., 1, None, None]) ** 2
    return np.exp(-d2 / (2.0 * sigma**2)).astype(np.float32)


def random_centres(
    rng: np.random.Generator, n: int, k: int, size: Tuple[int, int], margin: float = 3.0
) -> np.ndarray:
    """(N,K,2) random sub-pixel centres at least ``margin`` px from every border of an (h, w) map."""
    h, w = size
    x = rng.uniform(margin, w - 1 - margin, size=(n, k))
    y = rng.uniform(margin, h - 1 - margin, size=(n, k))
    return np.stack([x, y], axis=-1)


def random_boxes(
    rng: np.random.Generator, n: int, image_size: Tuple[int, int] = (480, 640),
    min_size: float = 20.0, max_size: float = 300.0,
) -> np.ndarray:
    """(N,4) xyxy boxes with random centres inside an (H, W) image and random sizes."""
    h, w = image_size
    bw = rng.uniform(min_size, max_size, n)
    bh = rng.uniform(min_size, max_size, n)
    cx = rng.uniform(0, w, n)
    cy = rng.uniform(0, h, n)
    return np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], axis=1)


def random_poses(
    rng: np.random.Generator, boxes: np.ndarray, k: int = 17
) -> Tuple[np.ndarray, np.ndarray]:
    """Random keypoints inside each box.

    Args:
        boxes: (N,4) xyxy.

    Returns:
        keypoints (N,K,2) in the boxes' frame (image pixels) and scores (N,K) in [0, 1).
    """
    b = np.asarray(boxes, dtype=np.float64)
    u = rng.uniform(0.0, 1.0, size=(b.shape[0], k, 2))
    kp = b[:, None, :2] + u * (b[:, None, 2:] - b[:, None, :2])
    return kp, rng.uniform(0.0, 1.0, size=(b.shape[0], k))


def clustered_proposals(
    rng: np.random.Generator, num_people: int, per_person: int, k: int = 17,
    image_size: Tuple[int, int] = (480, 640), jitter: float = 3.0,
) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Redundant pose proposals: several noisy copies of each of ``num_people`` poses.

    Returns:
        boxes (M,4), box_scores (M,), keypoints (M,K,2), keypoint_scores (M,K) with
        ``M = num_people * per_person``, all in image pixels.
    """
    base = random_boxes(rng, num_people, image_size, 60.0, 250.0)
    kp, _ = random_poses(rng, base, k)
    boxes = np.repeat(base, per_person, axis=0) + rng.normal(0, jitter, (num_people * per_person, 4))
    kps = np.repeat(kp, per_person, axis=0) + rng.normal(0, jitter, (num_people * per_person, k, 2))
    kp_scores = rng.uniform(0.05, 1.0, (num_people * per_person, k))
    box_scores = rng.uniform(0.3, 1.0, num_people * per_person)
    return boxes, box_scores, kps, kp_scores


# --- pose NMS references ---
# A plain parametric pose NMS written from DESIGN.md section 5 with per-pair, per-joint Python
# loops (the tests compare the vectorised ``pose_nms`` with it; ``benchmarks/bench_pose_nms.py``
# times it), and generated pose proposals for the NMS tests and benchmark: people with several
# noisy, partly duplicated proposals each (what a detector + SPPE produce), in image px.

REFERENCE_NMS_DEFAULTS = dict(
    delta1=1.0, delta2=2.65, mu=1.7, gamma=22.48, score_threshold=0.3, match_threshold=5,
    alpha=0.1, min_area=0.0, distance="pixel",
)


def reference_pose_nms(boxes, box_scores, keypoints, keypoint_scores, params: Optional[Dict] = None) -> List[Dict]:
    """Plain-loop parametric pose NMS of one image; ``params`` is a dict of ``pose_nms:`` config keys.

    Inputs are nested sequences (or numpy arrays): boxes N x 4 xyxy, box_scores N,
    keypoints N x K x 2, keypoint_scores N x K.

    Returns a list (in taking order) of dicts: index, members (sorted list), keypoints K x [x, y],
    keypoint_scores K, score, box.
    """
    p = dict(REFERENCE_NMS_DEFAULTS)
    p.update(params or {})
    n = len(keypoints)
    if n == 0:
        return []
    k = len(keypoints[0])
    kps = [[(float(keypoints[i][j][0]), float(keypoints[i][j][1])) for j in range(k)] for i in range(n)]
    raw = [[float(keypoint_scores[i][j]) for j in range(k)] for i in range(n)]
    scores = [[s if s > 0 else 1e-5 for s in row] for row in raw]
    pose_scores = [sum(row) / k for row in scores]
    ref = []
    for i in range(n):
        x1, y1, x2, y2 = (float(v) for v in boxes[i])
        ref.append(p["alpha"] * max(abs(x2 - x1), abs(y2 - y1)))

    def dist(i, j, joint):
        (ax, ay), (bx, by) = kps[i][joint], kps[j][joint]
        return math.sqrt((ax - bx) ** 2 + (ay - by) ** 2)

    remaining = list(range(n))
    clusters = []
    while remaining:
        # highest pose score; ties -> lowest index
        pick = remaining[0]
        for i in remaining:
            if pose_scores[i] > pose_scores[pick] or (pose_scores[i] == pose_scores[pick] and i < pick):
                pick = i
        cluster = [pick]
        keep = []
        for j in remaining:
            if j == pick:
                continue
            sim = 0.0
            close_terms = 0.0
            matches = 0
            for joint in range(k):
                d = dist(pick, j, joint)
                if p["distance"] == "normalized":
                    if ref[pick] > 0:
                        dn = d / ref[pick]
                    else:
                        dn = 0.0 if d == 0 else math.inf
                else:
                    dn = d
                if dn <= 1:
                    close_terms += math.tanh(scores[pick][joint] / p["delta1"]) * math.tanh(
                        scores[j][joint] / p["delta1"]
                    )
                sim += math.exp(-dn / p["delta2"])
                if d <= min(ref[pick], 7.0):
                    matches += 1
            similarity = close_terms + p["mu"] * sim
            suppressed = similarity > p["gamma"]
            if p["distance"] == "pixel" and matches >= p["match_threshold"]:
                suppressed = True
            if suppressed:
                cluster.append(j)
            else:
                keep.append(j)
        remaining = keep
        clusters.append((pick, sorted(cluster)))

    people = []
    for pick, members in clusters:
        radius = min(ref[pick], 15.0)
        merged_kp, merged_s = [], []
        for joint in range(k):
            sw = sx = sy = s2 = 0.0
            for m in members:
                if dist(pick, m, joint) <= radius:
                    s = scores[m][joint]
                    sw += s
                    sx += s * kps[m][joint][0]
                    sy += s * kps[m][joint][1]
                    s2 += s * s
            merged_kp.append([sx / sw, sy / sw])
            merged_s.append(s2 / sw)
        if max(raw[pick]) < p["score_threshold"] or max(merged_s) < p["score_threshold"]:
            continue
        xs = [q[0] for q in merged_kp]
        ys = [q[1] for q in merged_kp]
        if 2.25 * (max(xs) - min(xs)) * (max(ys) - min(ys)) < p["min_area"]:
            continue
        people.append(
            dict(
                index=pick,
                members=members,
                keypoints=merged_kp,
                keypoint_scores=merged_s,
                score=sum(merged_s) / k + float(box_scores[pick]) + 1.25 * max(merged_s),
                box=[float(v) for v in boxes[pick]],
            )
        )
    return people


def person_template(num_keypoints: int = 17) -> np.ndarray:
    """(K, 2) a fixed, roughly human layout in a unit box centred on 0 (x right, y down)."""
    t = np.linspace(0.0, 1.0, num_keypoints)
    x = 0.35 * np.sin(2.0 * np.pi * t * 1.7)
    y = t - 0.5
    return np.stack([x, y], axis=1)


def clustered_image(
    rng: np.random.Generator,
    num_proposals: int = 40,
    num_keypoints: int = 17,
    max_people: int = 4,
    image_size: float = 640.0,
) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Proposals of one image, float64.

    Returns:
        boxes (N, 4) xyxy, box_scores (N,), keypoints (N, K, 2), keypoint_scores (N, K).
        Contains exact duplicates, zero keypoint scores, outlier joints and people of 40 to 250
        px height, so every branch of the NMS (similarity, joint count, merge radius caps, score
        filter) is exercised.
    """
    K = num_keypoints
    template = person_template(K)
    n_people = int(rng.integers(1, max_people + 1))
    heights = rng.uniform(40.0, 250.0, n_people)
    centres = rng.uniform(0.2 * image_size, 0.8 * image_size, (n_people, 2))
    bases = centres[:, None, :] + template[None] * heights[:, None, None]
    bases += rng.normal(0.0, 0.03, bases.shape) * heights[:, None, None]

    boxes = np.zeros((num_proposals, 4))
    box_scores = np.zeros(num_proposals)
    keypoints = np.zeros((num_proposals, K, 2))
    keypoint_scores = np.zeros((num_proposals, K))
    for i in range(num_proposals):
        if i > 0 and rng.random() < 0.1:  # exact duplicate of an earlier proposal
            j = int(rng.integers(0, i))
            boxes[i], keypoints[i] = boxes[j], keypoints[j]
            keypoint_scores[i] = keypoint_scores[j] * (1.0 if rng.random() < 0.5 else rng.uniform(0.5, 1.0))
            box_scores[i] = box_scores[j]
            continue
        p = int(rng.integers(0, n_people))
        jitter = heights[p] * rng.choice([0.002, 0.01, 0.03, 0.08])
        kp = bases[p] + rng.normal(0.0, jitter, (K, 2))
        outliers = rng.random(K) < 0.1
        kp[outliers] += rng.normal(0.0, heights[p] * 0.3, (int(outliers.sum()), 2))
        keypoints[i] = kp
        lo, hi = kp.min(0), kp.max(0)
        margin = (hi - lo) * rng.uniform(0.0, 0.2, 2)
        boxes[i] = np.concatenate([lo - margin, hi + margin])
        level = rng.uniform(0.05, 1.0)
        keypoint_scores[i] = np.clip(level * rng.uniform(0.3, 1.2, K), 0.0, 1.0)
        keypoint_scores[i][rng.random(K) < 0.05] = 0.0
        box_scores[i] = rng.uniform(0.1, 1.0)
    return boxes, box_scores, keypoints, keypoint_scores


def clustered_dataset(seed: int, num_images: int, num_proposals=(1, 40), num_keypoints: int = 17, **kwargs):
    """Lists (one entry per image) of boxes, box_scores, keypoints, keypoint_scores.

    ``num_proposals``: an int, or an inclusive (low, high) range drawn per image; other keyword
    arguments go to :func:`clustered_image`.
    """
    rng = np.random.default_rng(seed)
    out = ([], [], [], [])
    for _ in range(num_images):
        if isinstance(num_proposals, int):
            n = num_proposals
        else:
            n = int(rng.integers(num_proposals[0], num_proposals[1] + 1))
        for lst, arr in zip(out, clustered_image(rng, n, num_keypoints, **kwargs)):
            lst.append(arr)
    return out
