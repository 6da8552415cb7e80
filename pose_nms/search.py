"""Tune (delta1, delta2, mu, gamma) of the parametric pose NMS on validation data.

RMPE tunes the four constants by coordinate search, two at a time with the others fixed,
maximising keypoint AP. ``pose_nms`` cannot import the evaluator, so the search takes an
``objective``: a callable that receives COCO keypoint results (a list of dicts with
``image_id``, ``category_id``, ``keypoints`` = flat ``[x, y, score] * K``, ``score``) and returns
the number to maximise. ``rmpe.evaluation.coco_objective(ann_file)`` provides the pycocotools AP.

The pairwise joint distances are computed once (:class:`~pose_nms.parametric.PreparedProposals`);
each candidate only reruns the similarity, the greedy loop and the merge.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from .errors import PoseNMSError
from .params import SEARCHABLE, PoseNMSParams, resolve_params, save_params
from .parametric import PoseNMSResult, PreparedProposals

#: Default pairs searched jointly, in order, each round.
DEFAULT_PAIRS: Tuple[Tuple[str, str], ...] = (("delta1", "delta2"), ("mu", "gamma"))
#: Default candidate factors applied to the current value of each parameter of a pair.
DEFAULT_FACTORS: Tuple[float, ...] = (0.25, 0.5, 1.0, 2.0, 4.0)


def to_coco_results(
    results: Sequence[PoseNMSResult], image_ids: Sequence[int], category_id: int = 1
) -> List[Dict[str, Any]]:
    """Turn per-image NMS results into COCO keypoint results (one dict per kept person).

    Args:
        results: one :class:`PoseNMSResult` per image.
        image_ids: the COCO image id of each image.
        category_id: the category written (COCO person = 1).

    Returns:
        List of ``{"image_id", "category_id", "keypoints": [x, y, s] * K, "score"}`` in image
        order, then NMS order.
    """
    if len(results) != len(image_ids):
        raise PoseNMSError(f"got {len(results)} NMS results for {len(image_ids)} image ids")
    out: List[Dict[str, Any]] = []
    for res, image_id in zip(results, image_ids):  # loop over images
        if len(res) == 0:
            continue
        kp = _to_numpy(res.keypoints)
        ks = _to_numpy(res.keypoint_scores)
        flat = _stack_flat(kp, ks).tolist()
        for row, score in zip(flat, _to_numpy(res.scores).tolist()):
            out.append({"image_id": image_id, "category_id": category_id, "keypoints": row, "score": score})
    return out


def _to_numpy(a: Any) -> np.ndarray:
    if hasattr(a, "detach"):
        return a.detach().cpu().numpy()
    return np.asarray(a)


def _stack_flat(kp: np.ndarray, ks: np.ndarray) -> np.ndarray:
    """(P, K, 2) + (P, K) -> (P, 3K) rows [x, y, s] * K."""
    return np.concatenate([kp, ks[..., None]], axis=-1).reshape(kp.shape[0], -1).astype(np.float64)


@dataclass
class SearchResult:
    """Outcome of :func:`search_params`.

    Attributes:
        params: the best parameters found.
        best_value: their objective value (AP).
        initial_value: the objective value of the starting parameters.
        history: every evaluated candidate as ``(params dict of the four constants, value)``.
    """

    params: PoseNMSParams
    best_value: float
    initial_value: float
    history: List[Tuple[Dict[str, float], float]] = field(default_factory=list)


def search_params(
    boxes: Sequence[Any],
    box_scores: Sequence[Any],
    keypoints: Sequence[Any],
    keypoint_scores: Sequence[Any],
    image_ids: Sequence[int],
    objective: Callable[[List[Dict[str, Any]]], float],
    *,
    initial: Any = None,
    pairs: Sequence[Tuple[str, str]] = DEFAULT_PAIRS,
    factors: Sequence[float] = DEFAULT_FACTORS,
    grid: Optional[Mapping[str, Sequence[float]]] = None,
    rounds: int = 3,
    min_gain: float = 1e-9,
    out_path: Optional[str] = None,
    category_id: int = 1,
    callback: Optional[Callable[[Dict[str, float], float], None]] = None,
) -> SearchResult:
    """Coordinate search over (delta1, delta2, mu, gamma), two at a time, maximising ``objective``.

    Each round visits every pair in ``pairs``; for a pair it evaluates every combination of
    candidate values (``grid[name]`` when given, else the current value times each of
    ``factors``) with the other constants fixed, and moves to the best combination if it beats
    the current value by more than ``min_gain``. Rounds stop early when one brings no gain.

    Args:
        boxes, box_scores, keypoints, keypoint_scores: per validation image the proposals, as
            for :func:`~pose_nms.batched_parametric_pose_nms` (image px).
        image_ids: COCO image id of each validation image.
        objective: COCO keypoint results -> value to maximise (e.g. AP).
        initial: starting parameters (default AlphaPose's); its other fields stay fixed.
        pairs: parameter pairs searched jointly.
        factors: multiplicative candidates around the current value (positive numbers).
        grid: absolute candidate values per parameter, replacing ``factors`` for that name.
        rounds: most rounds over ``pairs``.
        min_gain: smallest improvement that moves the search.
        out_path: when given, the best parameters are written there as YAML (the ``pose_nms:``
            config section's keys) with :func:`~pose_nms.save_params`.
        category_id: category written into the results.
        callback: called with (constants, value) after each new evaluation (progress display).

    Returns:
        :class:`SearchResult`.

    Raises:
        PoseNMSError: unknown parameter names, bad factors or grid values, bad proposals.
    """
    current = resolve_params(initial)
    for pair in pairs:
        if len(pair) != 2 or pair[0] == pair[1] or any(n not in SEARCHABLE for n in pair):
            raise PoseNMSError(f"pairs: {pair!r} is not a pair of distinct names among {', '.join(SEARCHABLE)}")
    if not factors or any(not (isinstance(f, (int, float)) and f > 0 and math.isfinite(f)) for f in factors):
        raise PoseNMSError("factors: expected a non-empty list of positive numbers")
    for name in grid or {}:
        if name not in SEARCHABLE:
            raise PoseNMSError(f"grid: unknown parameter '{name}' (searchable: {', '.join(SEARCHABLE)})")
    if len(image_ids) != len(keypoints):
        raise PoseNMSError(f"image_ids: {len(image_ids)} ids for {len(keypoints)} images")

    prepared = PreparedProposals(boxes, box_scores, keypoints, keypoint_scores, alpha=current.alpha)
    cache: Dict[Tuple[float, ...], float] = {}
    history: List[Tuple[Dict[str, float], float]] = []

    def evaluate(p: PoseNMSParams) -> float:
        key = tuple(getattr(p, n) for n in SEARCHABLE)
        if key not in cache:
            value = float(objective(to_coco_results(prepared.run(p), image_ids, category_id)))
            cache[key] = value
            constants = dict(zip(SEARCHABLE, key))
            history.append((constants, value))
            if callback is not None:
                callback(constants, value)
        return cache[key]

    def candidates(name: str, value: float) -> List[float]:
        if grid and name in grid:
            return [float(v) for v in grid[name]]
        return [value * float(f) for f in factors]

    best = initial_value = evaluate(current)
    for _ in range(max(int(rounds), 0)):
        moved = False
        for a, b in pairs:
            round_best, round_params = best, current
            for va in candidates(a, getattr(current, a)):
                for vb in candidates(b, getattr(current, b)):
                    try:
                        cand = current.replace(**{a: va, b: vb})
                    except PoseNMSError:
                        continue  # e.g. a grid value of 0 for delta1
                    value = evaluate(cand)
                    if value > round_best + min_gain:
                        round_best, round_params = value, cand
            if round_params is not current:
                best, current, moved = round_best, round_params, True
        if not moved:
            break

    if out_path is not None:
        save_params(
            out_path,
            current,
            comment=(
                f"pose_nms parameters from pose_nms.search_params: objective {best:.6f} "
                f"(start {initial_value:.6f}) on {len(image_ids)} images"
            ),
        )
    return SearchResult(params=current, best_value=best, initial_value=initial_value, history=history)
