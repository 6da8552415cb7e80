"""Parametric pose NMS (RMPE / AlphaPose), vectorised.

The semantics are those of DESIGN.md section 5:

* Per pose: box (xyxy, image px), box score, K keypoints (image px) and K keypoint scores.
  Keypoint scores <= 0 become 1e-5 (DESIGN.md names zeros; negative heatmap maxima are
  treated the same). Pose score = mean keypoint score. ref_dist = alpha x max(|box w|, |box h|).
* Greedy: take the remaining pose with the highest pose score (ties: the lower index). For
  every remaining pose, per joint distance d_n to the taken pose;
  similarity = sum_n [d_n <= 1] tanh(s_ref,n / delta1) tanh(s_cand,n / delta1)
  + mu * sum_n exp(-d_n / delta2); matches = #joints with d_n <= min(ref_dist, 7) px, ref_dist
  of the taken pose. Every remaining pose with similarity > gamma or matches >= match_threshold
  joins the taken pose's cluster and is removed; the taken pose is always in its own cluster.
  In ``"normalized"`` mode d_n is divided by the taken pose's ref_dist inside the similarity
  and the joint-count rule is off.
* Merge each cluster: per joint, the members whose joint lies within min(ref_dist, 15) px of the
  taken pose's joint (pixels in both modes) contribute; location = score-weighted mean, score =
  sum(s^2) / sum(s).
* Drop the person if the taken pose's largest input keypoint score or the largest merged score
  is below ``score_threshold``, or if 2.25 x the area of the merged keypoints' extent is below
  ``min_area``.
* Person score = mean merged keypoint score + box score + 1.25 x max merged keypoint score.

Vectorisation: the proposals of all images are checked and flattened into one list
(:func:`pose_nms._arrays.flatten_per_image`) and visited in (image, pose score) order. The
greedy has two equivalent formulations, all pairs at once for small inputs and one step per
kept pose for large ones (:mod:`pose_nms.greedy`).

The merge is one scatter-add over all proposals (each belongs to exactly one cluster).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, List, Sequence

import numpy as np
import torch

from ._arrays import flatten_per_image, to_output
from .errors import PoseNMSError
from .greedy import greedy
from .params import PoseNMSParams, resolve_params

#: Zero (and negative) keypoint scores are replaced by this value.
MIN_KEYPOINT_SCORE = 1e-5
#: A member's joint is merged when within min(ref_dist, MERGE_RADIUS_CAP) px of the taken one.
MERGE_RADIUS_CAP = 15.0
#: Extent area factor (1.5 x each side of the keypoints' bounding box).
AREA_FACTOR = 2.25
#: Weight of the largest merged keypoint score in the person score.
MAX_SCORE_WEIGHT = 1.25


@dataclass
class PoseNMSResult:
    """People kept by pose NMS in one image, in the order they were taken (highest pose score
    first). Arrays are torch tensors on the input's device, or numpy arrays for numpy input.

    Attributes:
        keypoints: (P, K, 2) merged keypoints, image px.
        keypoint_scores: (P, K) merged keypoint scores.
        scores: (P,) person scores (mean + box score + 1.25 x max of the merged scores).
        boxes: (P, 4) xyxy box of the proposal each person was taken from, image px.
        indices: (P,) int64 index of that proposal in the input.
        members: P int64 arrays, the input indices (ascending) of every proposal in each
            person's cluster, the taken proposal included.
        assignment: (N,) int64 for every input proposal the person (0..P-1) it was merged into,
            or -1 when its cluster was dropped by the score or area filter.
    """

    keypoints: Any
    keypoint_scores: Any
    scores: Any
    boxes: Any
    indices: Any
    members: List[Any]
    assignment: Any

    def __len__(self) -> int:
        return int(self.indices.shape[0])


# ----------------------------------------------------------------------------- core


class PreparedProposals:
    """Proposals of many images checked, flattened and sorted once, so NMS can be rerun cheaply
    with other constants (the parameter search).

    Args:
        boxes: per image an (N_b, 4) xyxy array, image px.
        box_scores: per image (N_b,).
        keypoints: per image (N_b, K, 2), image px.
        keypoint_scores: per image (N_b, K).
        alpha: ref_dist = alpha x the longer box side.

    Attributes (T proposals of B images, flattened image by image; :mod:`pose_nms.greedy`
    reads them):
        kp: (T, K, 2) keypoints, image px; ``x``, ``y``: (T, K) contiguous copies of each axis.
        s: (T, K) keypoint scores, <= 0 replaced by ``MIN_KEYPOINT_SCORE``.
        ref: (T,) ref_dist, px. kp_box: (T, 4) xyxy extent of each pose's keypoints, px.
        counts: B proposal counts. starts: (B,) first flat index of each image.
        image: (T,) image of each proposal. order: (T,) visiting order (image-major, then pose
        score descending, ties by index). K, num_images, total, device, dtype: sizes and kind.
    """

    def __init__(self, boxes, box_scores, keypoints, keypoint_scores, alpha: float = 0.1) -> None:
        flat = flatten_per_image(boxes, box_scores, keypoints, keypoint_scores)
        self.kp, self.boxes, self.box_scores = flat.keypoints, flat.boxes, flat.box_scores  # (T,K,2) (T,4) (T,)
        self.counts, self.K = flat.counts, flat.num_keypoints
        self.device, self.dtype, self.numpy_out = flat.device, flat.dtype, flat.numpy_out
        raw = flat.keypoint_scores  # (T, K) as given
        self.alpha = float(alpha)
        self.num_images = len(self.counts)
        self.total = int(sum(self.counts))
        dev = self.device
        self.starts = torch.as_tensor(np.concatenate([[0], np.cumsum(self.counts)[:-1]]) if self.counts else [],
                                      dtype=torch.long, device=dev)  # (B,) first flat index per image
        self.image = torch.repeat_interleave(
            torch.arange(self.num_images, device=dev), torch.as_tensor(self.counts, dtype=torch.long, device=dev)
        )  # (T,) image of each proposal
        if self.total == 0:
            return
        self.raw_max = raw.amax(-1)  # (T,) largest input keypoint score
        self.s = torch.where(raw > 0, raw, torch.full_like(raw, MIN_KEYPOINT_SCORE))  # (T, K)
        side = torch.maximum(
            (self.boxes[:, 2] - self.boxes[:, 0]).abs(), (self.boxes[:, 3] - self.boxes[:, 1]).abs()
        )
        self.ref = self.alpha * side  # (T,) px
        self.x, self.y = self.kp[:, :, 0].contiguous(), self.kp[:, :, 1].contiguous()  # (T, K) each
        (x0, x1), (y0, y1) = torch.aminmax(self.x, dim=1), torch.aminmax(self.y, dim=1)
        self.kp_box = torch.stack([x0, y0, x1, y1], 1)  # (T, 4) keypoint extent
        pose_score = self.s.mean(-1)
        # visiting order: image-major, then pose score descending, ties by index (stable sorts)
        if self.num_images == 1:
            self.order = torch.sort(pose_score, descending=True, stable=True).indices
        else:  # sort each image's row of a padded (B, M) table (padding -inf sorts last)
            M = max(self.counts)
            pos = torch.arange(self.total, device=dev) - self.starts[self.image]
            table = torch.full((self.num_images, M), -float("inf"), dtype=self.dtype, device=dev)
            table[self.image, pos] = pose_score
            idx = torch.sort(table, dim=1, descending=True, stable=True).indices
            counts = torch.as_tensor(self.counts, device=dev)
            valid = torch.arange(M, device=dev)[None, :] < counts[:, None]
            self.order = (self.starts[:, None] + idx)[valid]  # (T,)

    def run(self, params: Any = None) -> List[PoseNMSResult]:
        """NMS of every image with ``params`` (its ``alpha`` must equal the prepared one)."""
        p = resolve_params(params)
        if p.alpha != self.alpha:
            raise PoseNMSError(
                f"params.alpha {p.alpha} differs from the alpha {self.alpha} these proposals were prepared with"
            )
        with torch.no_grad():
            if self.total == 0:
                return [_empty_result(n, self.K, self.device, self.dtype, self.numpy_out) for n in self.counts]
            pick_of, picks = greedy(self, p)
            return self._merge(p, pick_of, picks)

    # -- merge and output -------------------------------------------------------------------

    def _merge(self, p: PoseNMSParams, pick_of: torch.Tensor, picks: torch.Tensor) -> List[PoseNMSResult]:
        dev, dtype, K, numpy_out = self.device, self.dtype, self.K, self.numpy_out
        P = picks.numel()
        cluster_id = torch.empty(self.total, dtype=torch.long, device=dev)
        cluster_id[picks] = torch.arange(P, device=dev)
        cid = cluster_id[pick_of]  # (T,) cluster of each proposal

        x, y = self.x, self.y
        dx, dy = x - x.index_select(0, pick_of), y - y.index_select(0, pick_of)
        d = (dx * dx).add_(dy * dy).sqrt_()  # (T, K) px to the taken pose's joints
        radius = self.ref.index_select(0, pick_of).clamp(max=MERGE_RADIUS_CAP)
        w = self.s * (d <= radius[:, None]).to(dtype)  # (T, K); the taken pose always contributes
        sums = torch.zeros(P, 4 * K, dtype=dtype, device=dev).index_add_(
            0, cid, torch.cat([w, w * x, w * y, w * w], 1)
        )  # per cluster: sum(s), sum(s x), sum(s y), sum(s^2) over the contributing members
        w_sum = sums[:, :K]
        merged_kp = torch.stack([sums[:, K:2 * K] / w_sum, sums[:, 2 * K:3 * K] / w_sum], -1)  # (P, K, 2)
        merged_s = sums[:, 3 * K:] / w_sum  # (P, K) sum(s^2) / sum(s)
        max_s = merged_s.amax(-1)
        keep = (self.raw_max[picks] >= p.score_threshold) & (max_s >= p.score_threshold)
        if p.min_area > 0:  # the extent is never negative: min_area 0 keeps everyone
            extent = (merged_kp.amax(1) - merged_kp.amin(1)).prod(-1) * AREA_FACTOR
            keep &= extent >= p.min_area
        person_score = merged_s.mean(-1) + self.box_scores[picks] + MAX_SCORE_WEIGHT * max_s

        kept = torch.nonzero(keep).reshape(-1)  # (Q,) clusters kept, image-major
        kept_img = self.image[picks[kept]]
        kept_counts = torch.bincount(kept_img, minlength=self.num_images)
        kept_start = torch.cumsum(kept_counts, 0) - kept_counts  # (B,)
        person = torch.full((P,), -1, dtype=torch.long, device=dev)  # cluster -> global kept id
        person[kept] = torch.arange(kept.numel(), device=dev)
        glob = person[cid]  # (T,) global kept id of each proposal, -1 if dropped
        assignment = torch.where(glob >= 0, glob - kept_start[self.image], glob)  # per-image person id

        in_kept = glob >= 0
        member_order = torch.nonzero(in_kept).reshape(-1)
        member_order = member_order[torch.sort(glob[member_order], stable=True).indices]
        member_local = member_order - self.starts[self.image[member_order]]
        member_counts = torch.bincount(glob[member_order], minlength=kept.numel())

        kc = kept_counts.tolist()
        outs = [
            merged_kp[kept], merged_s[kept], person_score[kept], self.boxes[picks[kept]],
            picks[kept] - self.starts[kept_img], assignment, member_local,
        ]
        outs = [to_output(a, numpy_out) for a in outs]
        mc = member_counts.tolist()
        if numpy_out:
            def split(a, sizes):  # np.split is slow for thousands of pieces
                ends = np.cumsum(sizes).tolist()
                return [a[e - n:e] for e, n in zip(ends, sizes)]
        else:
            def split(a, sizes):
                return list(torch.split(a, sizes)) if sizes else []
        per_image = [split(a, kc) for a in outs[:5]]
        assign_parts = split(outs[5], self.counts)
        members = split(outs[6], mc)
        results = []
        first_person = 0
        for b in range(self.num_images):  # loop over images: build the result objects
            q = kc[b]
            results.append(
                PoseNMSResult(
                    keypoints=per_image[0][b],
                    keypoint_scores=per_image[1][b],
                    scores=per_image[2][b],
                    boxes=per_image[3][b],
                    indices=per_image[4][b],
                    members=members[first_person:first_person + q],
                    assignment=assign_parts[b],
                )
            )
            first_person += q
        return results


def _empty_result(n: int, K: int, device, dtype, numpy_out: bool) -> PoseNMSResult:
    def z(*shape, long=False):
        t = torch.zeros(shape, dtype=torch.long if long else dtype, device=device)
        return to_output(t, numpy_out)

    return PoseNMSResult(
        keypoints=z(0, K, 2),
        keypoint_scores=z(0, K),
        scores=z(0),
        boxes=z(0, 4),
        indices=z(0, long=True),
        members=[],
        assignment=z(n, long=True),
    )


def batched_parametric_pose_nms(
    boxes: Sequence[Any],
    box_scores: Sequence[Any],
    keypoints: Sequence[Any],
    keypoint_scores: Sequence[Any],
    params: Any = None,
) -> List[PoseNMSResult]:
    """Parametric pose NMS of many images in one call (images are padded and processed together).

    Args:
        boxes: per image an (N_b, 4) xyxy array, image px.
        box_scores: per image (N_b,).
        keypoints: per image (N_b, K, 2), image px (K equal for all images).
        keypoint_scores: per image (N_b, K).
        params: :class:`PoseNMSParams`, a config-like object/mapping, or None for the defaults.

    Returns:
        One :class:`PoseNMSResult` per image. The first image with proposals decides the output
        kind: torch tensors on its keypoints' device and float dtype (float64 stays float64,
        anything else computes in float32), or numpy arrays when its keypoints are not a tensor.

    Raises:
        PoseNMSError: mismatched shapes, NaN/inf values, bad parameters.
    """
    p = resolve_params(params)
    return PreparedProposals(boxes, box_scores, keypoints, keypoint_scores, alpha=p.alpha).run(p)


def parametric_pose_nms(
    boxes: Any,
    box_scores: Any,
    keypoints: Any,
    keypoint_scores: Any,
    params: Any = None,
) -> PoseNMSResult:
    """Parametric pose NMS of one image (DESIGN.md section 5; see the module docstring).

    Args:
        boxes: (N, 4) xyxy proposal boxes, image px (degenerate boxes are allowed: ref_dist 0).
        box_scores: (N,) detector scores.
        keypoints: (N, K, 2) keypoints, image px.
        keypoint_scores: (N, K) keypoint scores (<= 0 treated as 1e-5).
        params: :class:`PoseNMSParams`, a config-like object/mapping, or None for the defaults.

    Returns:
        :class:`PoseNMSResult` (torch tensors on the keypoints' device and of their float dtype,
        float16 computed as float32; numpy arrays when ``keypoints`` is not a tensor).

    Raises:
        PoseNMSError: mismatched shapes, NaN/inf values, bad parameters.
    """
    return batched_parametric_pose_nms([boxes], [box_scores], [keypoints], [keypoint_scores], params)[0]
