"""Bottom-up association: confidence maps + affinity fields -> people (OpenPose's greedy parsing).

Frames: input maps and fields and output keypoints are in **map pixels** (integer = pixel
centre); :class:`rmpe.bottomup.pipeline.BottomUpPipeline` maps them to image pixels.

Steps (Cao et al., OpenPose):

1. candidates: local maxima of every joint's confidence map (a 3x3 max-pool equal to the map)
   above ``peak_threshold``; each peak is refined to sub-pixel precision by a parabola through
   the log of the peak and its two neighbours, in x and in y (exact for a Gaussian peak);
   its score is the map value at the peak pixel;
2. for every limb ``(a, b)`` and every pair of candidates (vectorised over all pairs), the line
   integral ``E = mean_u F(p(u)) . (d_b - d_a) / |d_b - d_a|`` over ``samples`` points
   ``p(u) = d_a + u (d_b - d_a)``, u evenly spaced in [0, 1], F read bilinearly (a
   short limb's end samples would otherwise round onto pixels just outside its field);
   plus the length prior ``min(0, max_length / |d_b - d_a| - 1)``; a pair is a candidate
   connection when at least ``min_agree`` of the samples exceed ``sample_threshold`` and
   E (with the prior) is positive;
3. greedy bipartite matching per limb: repeatedly take the best remaining pair and remove its
   two candidates (each candidate joins at most one connection of a limb);
4. people: connections are added limb by limb; a connection starts a person, extends the
   person that holds one of its ends (when that person's slot for the other joint is free), or
   merges the two people that hold its ends (when they have no joint in common);
5. people with fewer than ``min_parts`` joints or a person score below ``min_score`` are
   dropped. Person score: the mean over the K joints of the keypoint scores (a missing joint
   counts 0), so complete, confident people rank first.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from .limbs import LIMBS
from .targets import to_numpy


def find_peaks(maps: Any, threshold: float = 0.1) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Joint candidates: local maxima of the confidence maps, refined to sub-pixel positions.

    Args:
        maps: (K,h,w) joint confidence maps (no background channel), numpy or torch.
        threshold: a peak must exceed this.

    Returns:
        joints (M,) int64 joint index of each peak, sorted by joint then row then column;
        xy (M,2) float64 map-pixel positions; scores (M,) float64 map values at the peak pixels.
    """
    m = torch.as_tensor(to_numpy(maps, np.float32))
    k, h, w = m.shape
    pooled = F.max_pool2d(m[None], kernel_size=3, stride=1, padding=1)[0]
    peak = (m == pooled) & (m > threshold)
    j, y, x = (t.numpy() for t in torch.nonzero(peak, as_tuple=True))
    mm = m.numpy().astype(np.float64)
    scores = mm[j, y, x]
    logm = np.log(np.maximum(mm, 1e-12))

    def offset(lo: np.ndarray, mid: np.ndarray, hi: np.ndarray, inside: np.ndarray) -> np.ndarray:
        curv = lo - 2.0 * mid + hi
        ok = inside & (curv < -1e-9)
        d = np.where(ok, 0.5 * (lo - hi) / np.where(ok, curv, -1.0), 0.0)
        return np.clip(d, -0.5, 0.5)

    in_x = (x > 0) & (x < w - 1)
    in_y = (y > 0) & (y < h - 1)
    xl, xr = np.clip(x - 1, 0, w - 1), np.clip(x + 1, 0, w - 1)
    yu, yd = np.clip(y - 1, 0, h - 1), np.clip(y + 1, 0, h - 1)
    c = logm[j, y, x]
    dx = offset(logm[j, y, xl], c, logm[j, y, xr], in_x)
    dy = offset(logm[j, yu, x], c, logm[j, yd, x], in_y)
    xy = np.stack([x + dx, y + dy], axis=1) if j.size else np.zeros((0, 2))
    return j.astype(np.int64), xy, scores


def bilinear(image: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Bilinear samples of ``image`` (h,w) at ``points`` (...,2) map pixels (x, y), clamped to the map."""
    h, w = image.shape
    x = np.clip(points[..., 0], 0, w - 1)
    y = np.clip(points[..., 1], 0, h - 1)
    x0 = np.minimum(np.floor(x).astype(np.int64), w - 2) if w > 1 else np.zeros(x.shape, np.int64)
    y0 = np.minimum(np.floor(y).astype(np.int64), h - 2) if h > 1 else np.zeros(y.shape, np.int64)
    x1, y1 = np.minimum(x0 + 1, w - 1), np.minimum(y0 + 1, h - 1)
    tx, ty = x - x0, y - y0
    top = image[y0, x0] * (1 - tx) + image[y0, x1] * tx
    bottom = image[y1, x0] * (1 - tx) + image[y1, x1] * tx
    return top * (1 - ty) + bottom * ty


def limb_scores(
    field: np.ndarray,
    start: np.ndarray,
    end: np.ndarray,
    *,
    samples: int = 10,
    sample_threshold: float = 0.05,
    min_agree: float = 0.8,
    max_length: float = 32.0,
) -> np.ndarray:
    """Affinity score of every (start, end) candidate pair of one limb, vectorised over pairs.

    Args:
        field: (2,h,w) the limb's affinity field (x, y channels), map pixels.
        start: (A,2) candidates of the limb's first joint, map pixels.
        end: (B,2) candidates of its second joint.
        samples: points on the segment where the field is read (>= 2).
        sample_threshold / min_agree: a pair needs ``ceil(min_agree * samples)`` samples whose
            dot product with the pair's direction exceeds ``sample_threshold``.
        max_length: length prior: pairs longer than this (map px) are penalised by
            ``max_length / length - 1``.

    Returns:
        (A,B) float64 scores E (line integral + length prior); ``-inf`` where the pair is not a
        candidate connection (too few agreeing samples, E <= 0, or the two points coincide).
    """
    a = start[:, None, :]  # (A,1,2)
    d = end[None, :, :] - a  # (A,B,2)
    length = np.linalg.norm(d, axis=-1)  # (A,B)
    unit = d / np.maximum(length, 1e-9)[..., None]
    u = np.linspace(0.0, 1.0, int(samples))
    points = a[:, :, None, :] + u[None, None, :, None] * d[:, :, None, :]  # (A,B,S,2)
    fx, fy = bilinear(field[0], points), bilinear(field[1], points)  # (A,B,S)
    dots = fx * unit[..., None, 0] + fy * unit[..., None, 1]
    prior = np.minimum(0.0, max_length / np.maximum(length, 1e-9) - 1.0)
    energy = dots.mean(axis=-1) + prior
    agree = (dots > sample_threshold).sum(axis=-1) >= np.ceil(min_agree * samples - 1e-9)
    keep = agree & (energy > 0) & (length > 1e-9)
    return np.where(keep, energy, -np.inf)


def greedy_match(scores: np.ndarray) -> List[Tuple[int, int, float]]:
    """Greedy bipartite matching: best pair first, each row and column used at most once.

    Args:
        scores: (A,B) pair scores, ``-inf`` for pairs that may not be matched.

    Returns:
        ``(row, column, score)`` of each chosen pair, best first. Loops once per chosen pair
        (at most min(A, B) times), each pass an argmax over the remaining matrix.
    """
    s = np.array(scores, dtype=np.float64, copy=True)
    out: List[Tuple[int, int, float]] = []
    while s.size:
        flat = int(np.argmax(s))
        r, c = divmod(flat, s.shape[1])
        best = s[r, c]
        if not np.isfinite(best):
            break
        out.append((r, c, float(best)))
        s[r, :] = -np.inf
        s[:, c] = -np.inf
    return out


def decode(
    maps: Any,
    fields: Any,
    *,
    limbs: Sequence[Tuple[int, int]] = LIMBS,
    peak_threshold: float = 0.1,
    samples: int = 10,
    sample_threshold: float = 0.05,
    min_agree: float = 0.8,
    max_length: Optional[float] = None,
    min_parts: int = 3,
    min_score: float = 0.0,
) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """People of one image from its confidence maps and affinity fields (module docstring).

    Args:
        maps: (K+1,h,w) confidence maps, the last channel the background (ignored); numpy or torch.
        fields: (2C,h,w) affinity fields of ``limbs`` (channels ``2c, 2c+1`` = x, y of limb c).
        limbs: the C joint-index pairs the fields were trained on.
        peak_threshold: candidate peaks must exceed this.
        samples / sample_threshold / min_agree: the line integral (:func:`limb_scores`).
        max_length: length prior in map pixels; None: half the map height.
        min_parts: people with fewer joints are dropped.
        min_score: people with a lower person score are dropped.

    Returns:
        keypoints (P,K,2) float32 map pixels (0 where a joint is missing);
        keypoint_scores (P,K) float32 peak values (0 where missing);
        person_scores (P,) float32, mean keypoint score over the K joints; people sorted by it,
        best first.
    """
    m = to_numpy(maps, np.float32)
    f = to_numpy(fields, np.float64)
    k = m.shape[0] - 1
    h = m.shape[1]
    pair = np.asarray(limbs, dtype=np.int64).reshape(-1, 2)
    if f.shape[0] != 2 * pair.shape[0]:
        raise ValueError(f"fields have {f.shape[0]} channels but {pair.shape[0]} limbs need {2 * pair.shape[0]}")
    limit = float(max_length) if max_length is not None else 0.5 * h
    joint, xy, score = find_peaks(m[:k], peak_threshold)
    members = [np.flatnonzero(joint == j) for j in range(k)]  # global peak ids per joint
    people: List[np.ndarray] = []  # per person: (K,) global peak id or -1
    owner: Dict[int, int] = {}
    for c, (ja, jb) in enumerate(pair):
        ia, ib = members[ja], members[jb]
        if ia.size == 0 or ib.size == 0:
            continue
        e = limb_scores(f[2 * c:2 * c + 2], xy[ia], xy[ib], samples=samples, sample_threshold=sample_threshold,
                        min_agree=min_agree, max_length=limit)
        for r, col, _ in greedy_match(e):
            pa, pb = int(ia[r]), int(ib[col])
            qa, qb = owner.get(pa), owner.get(pb)
            if qa is None and qb is None:
                row = np.full(k, -1, np.int64)
                row[ja], row[jb] = pa, pb
                owner[pa] = owner[pb] = len(people)
                people.append(row)
            elif qa is not None and qb is None:
                if people[qa][jb] < 0:
                    people[qa][jb] = pb
                    owner[pb] = qa
            elif qa is None and qb is not None:
                if people[qb][ja] < 0:
                    people[qb][ja] = pa
                    owner[pa] = qb
            elif qa != qb:
                keep, gone = min(qa, qb), max(qa, qb)
                if not np.any((people[keep] >= 0) & (people[gone] >= 0)):
                    filled = people[gone] >= 0
                    people[keep][filled] = people[gone][filled]
                    for p in people[gone][filled]:
                        owner[int(p)] = keep
                    people[gone] = np.full(k, -1, np.int64)
    rows = np.array([p for p in people if (p >= 0).sum() >= max(min_parts, 1)], dtype=np.int64).reshape(-1, k)
    found = rows >= 0
    kp = np.zeros((len(rows), k, 2), np.float32)
    ks = np.zeros((len(rows), k), np.float32)
    kp[found] = xy[rows[found]]
    ks[found] = score[rows[found]]
    ps = ks.mean(axis=1) if k else np.zeros(len(rows), np.float32)
    keep = ps >= min_score
    order = np.argsort(-ps[keep], kind="stable")
    return kp[keep][order], ks[keep][order], ps[keep][order].astype(np.float32)
