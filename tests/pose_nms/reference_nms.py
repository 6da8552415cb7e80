"""Plain reference of the parametric pose NMS, written from DESIGN.md section 5 with per-pair,
per-joint Python loops. Used by the tests (equality with the vectorised version) and by
``benchmarks/bench_pose_nms.py`` (speed). Not part of the package.

Parameters are passed as a plain dict with the ``pose_nms:`` config keys.
"""
from __future__ import annotations

import math
from typing import Dict, List

DEFAULTS = dict(
    delta1=1.0, delta2=2.65, mu=1.7, gamma=22.48, score_threshold=0.3, match_threshold=5,
    alpha=0.1, min_area=0.0, distance="pixel",
)


def reference_pose_nms(boxes, box_scores, keypoints, keypoint_scores, params: Dict = None) -> List[Dict]:
    """One image. Inputs are nested sequences (or numpy arrays): boxes N x 4 xyxy, box_scores N,
    keypoints N x K x 2, keypoint_scores N x K.

    Returns a list (in taking order) of dicts: index, members (sorted list), keypoints K x [x, y],
    keypoint_scores K, score, box.
    """
    p = dict(DEFAULTS)
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
