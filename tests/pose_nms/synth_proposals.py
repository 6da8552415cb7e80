"""Generated pose proposals for the pose NMS tests and benchmark: people with several noisy,
partly duplicated proposals each (what a detector + SPPE produce), in image px."""
from __future__ import annotations

from typing import Tuple

import numpy as np


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
