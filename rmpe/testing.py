"""Small factories of synthetic heatmaps, poses and boxes, and plain references, shared by
the tests and benchmarks.

Everything is deterministic given a ``numpy.random.Generator``; arrays are numpy float64
unless stated, so tests can build plain-loop references from them. The references (codec
decoders, STN frames) are written from DESIGN.md one person and joint at a time, without
the project's batched code, so the batched code can be checked against them.
"""
from __future__ import annotations

import math
from typing import Callable, Dict, List, Optional, Tuple

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


# --- crop references ---


def reference_crop_box(box, aspect: float = 0.75, enlarge: float = 1.25) -> Tuple[float, float, float, float]:
    """DESIGN.md's crop-box rule written out by hand: ``(cx, cy, w, h)`` of the crop box of an
    xyxy ``box`` (the box only grows to the aspect ratio ``w / h``, then both sides x ``enlarge``)."""
    x1, y1, x2, y2 = (float(v) for v in box)
    w, h = x2 - x1, y2 - y1
    if w > aspect * h:
        h = w / aspect
    else:
        w = aspect * h
    return (x1 + x2) / 2, (y1 + y2) / 2, w * enlarge, h * enlarge


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


# --- codec references ---


def argmax_reference(hm: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Plain loop argmax decoding: AlphaPose's quarter-offset rule (DESIGN.md section 5).

    Args:
        hm: (N,K,h,w) heatmaps.

    Returns:
        coords (N,K,2) in heatmap pixels and scores (N,K) (the map maxima).
    """
    n, k, h, w = hm.shape
    coords = np.zeros((n, k, 2))
    scores = np.zeros((n, k))
    for i in range(n):
        for j in range(k):
            m = hm[i, j]
            py, px = divmod(int(np.argmax(m)), w)
            x, y = float(px), float(py)
            if 0 < px < w - 1 and 0 < py < h - 1:
                x += 0.25 * np.sign(m[py, px + 1] - m[py, px - 1])
                y += 0.25 * np.sign(m[py + 1, px] - m[py - 1, px])
            coords[i, j] = (x, y)
            scores[i, j] = m[py, px]
    return coords, scores


def blur_reference(m: np.ndarray, sigma: float) -> np.ndarray:
    """Plain 2-D Gaussian blur of one (h, w) map, radius ceil(3 sigma), zero outside the map,
    one output pixel at a time; returns (h, w) float64."""
    r = int(math.ceil(3 * sigma))
    t = np.arange(-r, r + 1)
    g = np.exp(-(t**2) / (2 * sigma**2))
    g /= g.sum()
    h, w = m.shape
    out = np.zeros_like(m, dtype=np.float64)
    for y in range(h):
        for x in range(w):
            acc = 0.0
            for a in range(-r, r + 1):
                for b in range(-r, r + 1):
                    if 0 <= y + a < h and 0 <= x + b < w:
                        acc += g[a + r] * g[b + r] * m[y + a, x + b]
            out[y, x] = acc
    return out


def dark_reference(
    hm: np.ndarray, sigma: float, blur: Callable[[np.ndarray, float], np.ndarray] = blur_reference
) -> Tuple[np.ndarray, np.ndarray]:
    """Plain loop DARK decoding: blur, keep the maximum, log, one Newton step from central
    differences at the argmax (DESIGN.md section 5).

    Args:
        hm: (N,K,h,w) heatmaps.
        sigma: the training sigma (heatmap pixels).
        blur: ``blur(map (h, w) float64, sigma) -> (h, w)``, a zero-border Gaussian blur;
            default :func:`blur_reference` (a benchmark may pass an OpenCV blur).

    Returns:
        coords (N,K,2) in heatmap pixels and scores (N,K) (the maxima before blurring).
    """
    n, k, h, w = hm.shape
    coords = np.zeros((n, k, 2))
    scores = np.zeros((n, k))
    for i in range(n):
        for j in range(k):
            m = hm[i, j].astype(np.float64)
            py, px = divmod(int(np.argmax(m)), w)
            scores[i, j] = m[py, px]
            b = blur(m, sigma)
            b = b * (m.max() / b.max())
            L = np.log(np.maximum(b, 1e-10))
            x, y = float(px), float(py)
            if 0 < px < w - 1 and 0 < py < h - 1:
                dx = 0.5 * (L[py, px + 1] - L[py, px - 1])
                dy = 0.5 * (L[py + 1, px] - L[py - 1, px])
                dxx = L[py, px + 1] - 2 * L[py, px] + L[py, px - 1]
                dyy = L[py + 1, px] - 2 * L[py, px] + L[py - 1, px]
                dxy = 0.25 * (L[py + 1, px + 1] - L[py - 1, px + 1] - L[py + 1, px - 1] + L[py - 1, px - 1])
                hess = np.array([[dxx, dxy], [dxy, dyy]])
                if abs(np.linalg.det(hess)) > 1e-12:
                    off = np.linalg.solve(hess, np.array([dx, dy]))
                    x, y = x - off[0], y - off[1]
            coords[i, j] = (x, y)
    return coords, scores


# --- STN frame references ---


def random_thetas(
    rng: np.random.Generator,
    n: int,
    size: Tuple[int, int],
    max_rot: float = 30.0,
    scale: Tuple[float, float] = (0.7, 1.3),
    shift: float = 0.2,
) -> np.ndarray:
    """(N,3,3) float64 pixel-frame thetas (crop' px -> crop px) for an (H, W) crop.

    Each is a rotation by up to ``max_rot`` degrees and a uniform scale in ``scale`` about
    the crop centre, then a shift of up to ``shift`` times the crop size.
    """
    h, w = size
    rot = np.deg2rad(rng.uniform(-max_rot, max_rot, n))
    s = rng.uniform(scale[0], scale[1], n)
    tx = rng.uniform(-shift, shift, n) * w
    ty = rng.uniform(-shift, shift, n) * h
    centre = np.array([w / 2.0, h / 2.0])
    out = np.zeros((n, 3, 3))
    for i in range(n):
        a = s[i] * np.array([[np.cos(rot[i]), -np.sin(rot[i])], [np.sin(rot[i]), np.cos(rot[i])]])
        out[i, :2, :2] = a
        out[i, :2, 2] = centre - a @ centre + np.array([tx[i], ty[i]])
        out[i, 2, 2] = 1.0
    return out


def gamma_reference(theta: np.ndarray) -> np.ndarray:
    """DESIGN.md's SDTN formula for one (3,3) theta: ``[g1 g2] = [t1 t2]^-1``,
    ``g3 = -[g1 g2] t3``; returns the (3,3) gamma (crop px -> crop' px)."""
    g12 = np.linalg.inv(theta[:2, :2])
    out = np.eye(3)
    out[:2, :2] = g12
    out[:2, 2] = -g12 @ theta[:2, 2]
    return out


def bilinear_at(img: np.ndarray, x: float, y: float) -> np.ndarray:
    """Plain bilinear sample of a (C,H,W) map at pixel (x, y), zero outside; returns (C,)."""
    c, h, w = img.shape
    x0, y0 = math.floor(x), math.floor(y)
    acc = np.zeros(c)
    for dy, wy in ((0, 1 - (y - y0)), (1, y - y0)):
        for dx, wx in ((0, 1 - (x - x0)), (1, x - x0)):
            if 0 <= y0 + dy < h and 0 <= x0 + dx < w:
                acc += wy * wx * img[:, y0 + dy, x0 + dx]
    return acc


def random_yolo(path, seed: int = 0, person_bias: float = -2.0, calibration: Optional[np.ndarray] = None,
                definition: str = "yolov8n.yaml"):
    """Save a randomly initialised ultralytics detector (no download) that still finds "people".

    A freshly built YOLO's activations shrink towards zero through its depth (its batch norms
    hold the identity statistics), so every box and score would be the same constant for any
    image. Here each batch norm takes its statistics from one forward pass on ``calibration``
    (an (H, W, 3) uint8 BGR image; default random noise), so the outputs depend on the image,
    and the person class's output bias is set to ``person_bias`` (-2: some tens of boxes above
    conf 0.3 with varied scores, on a street photo). For export tests and speed measurements.

    Args:
        path: the ``.pt`` file to write.

    Returns:
        the ``ultralytics.YOLO`` model (also saved at ``path``).
    """
    import os

    import torch
    from torch import nn

    os.environ.setdefault("YOLO_OFFLINE", "1")
    from ultralytics import YOLO

    torch.manual_seed(seed)
    model = YOLO(definition)
    net = model.model
    if calibration is None:
        x = torch.rand(1, 3, 640, 640)
    else:
        import cv2

        rgb = cv2.resize(calibration, (640, 640))[:, :, ::-1].copy()
        x = torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 255.0
    for module in net.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.momentum = 1.0  # the next training-mode pass sets the running statistics
    net.train()
    with torch.no_grad():
        net(x)
        for branch in net.model[-1].cv3:
            branch[-1].bias[0] = person_bias
    net.eval()
    model.save(str(path))
    return model
