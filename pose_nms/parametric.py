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

All pairwise criteria are tensor operations over (images, poses, poses, joints); the only
Python loop per image is the greedy loop over the poses it keeps, run on a CPU copy of the
(poses x poses) suppression matrix.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, List, Optional, Sequence

import numpy as np
import torch

from ._arrays import check_finite, check_shape, compute_spec, to_output, to_tensor
from .errors import PoseNMSError
from .params import PoseNMSParams, resolve_params

#: Zero (and negative) keypoint scores are replaced by this value.
MIN_KEYPOINT_SCORE = 1e-5
#: The joint-count rule counts joints within min(ref_dist, MATCH_RADIUS_CAP) px.
MATCH_RADIUS_CAP = 7.0
#: A member's joint is merged when within min(ref_dist, MERGE_RADIUS_CAP) px of the taken one.
MERGE_RADIUS_CAP = 15.0
#: Extent area factor (1.5 x each side of the keypoints' bounding box).
AREA_FACTOR = 2.25
#: Weight of the largest merged keypoint score in the person score.
MAX_SCORE_WEIGHT = 1.25
#: Largest number of (pose pair x joint) elements computed at once; images are chunked to fit.
_CHUNK_ELEMENTS = 4_000_000


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


# ----------------------------------------------------------------------------- inputs


@dataclass
class _Image:
    boxes: torch.Tensor  # (N, 4)
    box_scores: torch.Tensor  # (N,)
    keypoints: torch.Tensor  # (N, K, 2)
    keypoint_scores: torch.Tensor  # (N, K)


def _convert_image(boxes, box_scores, keypoints, keypoint_scores, device, dtype, where: str) -> _Image:
    kp = to_tensor(keypoints, f"{where}keypoints", device, dtype)
    if kp.dim() == 3 and kp.shape[0] == 0 and kp.shape[-1] == 2:
        n, k = 0, kp.shape[1]
    else:
        check_shape(kp, f"{where}keypoints", (None, None, 2), "(N, K, 2)")
        n, k = kp.shape[:2]
    b = to_tensor(boxes, f"{where}boxes", device, dtype)
    if n == 0 and b.numel() == 0:
        b = b.reshape(0, 4)
    check_shape(b, f"{where}boxes", (n, 4), f"({n}, 4) for {n} poses")
    bs = to_tensor(box_scores, f"{where}box_scores", device, dtype).reshape(-1) if n else b.new_zeros(0)
    check_shape(bs, f"{where}box_scores", (n,), f"({n},)")
    ks = to_tensor(keypoint_scores, f"{where}keypoint_scores", device, dtype)
    if n == 0 and ks.numel() == 0:
        ks = ks.reshape(0, k)
    check_shape(ks, f"{where}keypoint_scores", (n, k), f"({n}, {k})")
    check_finite(kp, f"{where}keypoints")
    check_finite(b, f"{where}boxes")
    check_finite(bs, f"{where}box_scores")
    check_finite(ks, f"{where}keypoint_scores")
    return _Image(b, bs, kp, ks)


def _convert_batch(boxes, box_scores, keypoints, keypoint_scores):
    lists = (boxes, box_scores, keypoints, keypoint_scores)
    names = ("boxes", "box_scores", "keypoints", "keypoint_scores")
    for name, seq in zip(names, lists):
        if isinstance(seq, (torch.Tensor, np.ndarray)) or not isinstance(seq, Sequence):
            raise PoseNMSError(f"{name}: expected a list with one array per image")
    if len({len(seq) for seq in lists}) != 1:
        raise PoseNMSError(
            "boxes, box_scores, keypoints and keypoint_scores must have one entry per image; got lengths "
            + ", ".join(str(len(s)) for s in lists)
        )
    if len(keypoints) == 0:
        return [], torch.device("cpu"), torch.float32, True
    device, dtype, numpy_out = compute_spec(keypoints[0], boxes[0], box_scores[0], keypoint_scores[0])
    images = [
        _convert_image(*args, device, dtype, where=f"image {i}: " if len(keypoints) > 1 else "")
        for i, args in enumerate(zip(boxes, box_scores, keypoints, keypoint_scores))
    ]
    ks = {im.keypoints.shape[1] for im in images}
    if len(ks) > 1:
        raise PoseNMSError(f"keypoints: all images must have the same number of joints K, got {sorted(ks)}")
    if ks == {0}:
        raise PoseNMSError("keypoints: K must be at least 1 joint per pose")
    return images, device, dtype, numpy_out


# ----------------------------------------------------------------------------- prepared chunk


class _Chunk:
    """Padded tensors and parameter-independent pairwise quantities for a group of images.

    Shapes: B images, M = most poses in one image, K joints. Index ``i`` is the taken
    (reference) pose, ``j`` the candidate.
    """

    def __init__(self, images: List[_Image], alpha: float) -> None:
        self.counts = [int(im.keypoints.shape[0]) for im in images]
        first = images[0]
        device, dtype = first.keypoints.device, first.keypoints.dtype
        B, M, K = len(images), max(self.counts), int(first.keypoints.shape[1])
        self.B, self.M, self.K = B, M, K
        self.alpha = alpha
        self.device, self.dtype = device, dtype
        if M == 0:
            return
        img = torch.repeat_interleave(torch.arange(B, device=device), torch.tensor(self.counts, device=device))
        pos = torch.cat([torch.arange(n, device=device) for n in self.counts])
        self.valid = torch.zeros(B, M, dtype=torch.bool, device=device)
        self.valid[img, pos] = True
        kp = torch.zeros(B, M, K, 2, dtype=dtype, device=device)
        kp[img, pos] = torch.cat([im.keypoints for im in images])
        raw = torch.zeros(B, M, K, dtype=dtype, device=device)
        raw[img, pos] = torch.cat([im.keypoint_scores for im in images])
        boxes = torch.zeros(B, M, 4, dtype=dtype, device=device)
        boxes[img, pos] = torch.cat([im.boxes for im in images])
        box_scores = torch.zeros(B, M, dtype=dtype, device=device)
        box_scores[img, pos] = torch.cat([im.box_scores for im in images])

        self.kp, self.boxes, self.box_scores = kp, boxes, box_scores
        self.raw_max = raw.max(-1).values  # (B, M) largest input keypoint score
        self.s = torch.where(raw > 0, raw, torch.full_like(raw, MIN_KEYPOINT_SCORE))  # (B, M, K)
        pose_score = self.s.mean(-1).masked_fill(~self.valid, -float("inf"))
        order = torch.sort(pose_score, dim=1, descending=True, stable=True).indices
        self.order = order.cpu().numpy()  # (B, M) greedy visiting order per image
        side = torch.maximum((boxes[..., 2] - boxes[..., 0]).abs(), (boxes[..., 3] - boxes[..., 1]).abs())
        self.ref = alpha * side  # (B, M) ref_dist per pose, px

        x, y = kp[..., 0], kp[..., 1]  # (B, M, K)
        dx = x[:, :, None, :] - x[:, None, :, :]
        dy = y[:, :, None, :] - y[:, None, :, :]
        self.d = torch.sqrt(dx * dx + dy * dy)  # (B, M, M, K) px, d[b, i, j, n] = |kp_i,n - kp_j,n|
        del dx, dy
        ref_i = self.ref[:, :, None, None]
        self.matches = (self.d <= ref_i.clamp(max=MATCH_RADIUS_CAP)).sum(-1)  # (B, M, M)
        self.pair_valid = self.valid[:, :, None] & self.valid[:, None, :]
        self.eye = torch.eye(M, dtype=torch.bool, device=device)[None]
        self._dn: Optional[torch.Tensor] = None

    def normalized_distances(self) -> torch.Tensor:
        """d / ref_dist of the taken pose (0 / 0 = 0, d / 0 = inf for a degenerate box)."""
        if self._dn is None:
            ref_i = self.ref[:, :, None, None]
            inf = torch.full_like(self.d, float("inf"))
            safe = torch.where(ref_i > 0, ref_i, torch.ones_like(ref_i))
            self._dn = torch.where(ref_i > 0, self.d / safe, torch.where(self.d == 0, torch.zeros_like(inf), inf))
        return self._dn

    def suppression(self, p: PoseNMSParams) -> np.ndarray:
        """(B, M, M) bool on the CPU: taking pose i removes pose j into its cluster."""
        dd = self.normalized_distances() if p.distance == "normalized" else self.d
        t = torch.tanh(self.s / p.delta1)  # (B, M, K)
        close = (dd <= 1).to(self.dtype)
        sim = (close * t[:, :, None, :] * t[:, None, :, :]).sum(-1)
        sim = sim + p.mu * torch.exp(-dd / p.delta2).sum(-1)  # (B, M, M)
        sup = sim > p.gamma
        if p.distance == "pixel":
            sup |= self.matches >= p.match_threshold
        sup = (sup & self.pair_valid) | self.eye
        return sup.cpu().numpy()


def _greedy(sup: np.ndarray, order: np.ndarray, n: int):
    """Greedy clustering of one image.

    Args:
        sup: (M, M) bool, sup[i, j]: taking i removes j.
        order: (M,) pose indices by descending pose score (first n are real poses).
        n: number of real poses.

    Returns:
        picks: list of taken pose indices in order; assign: (n,) cluster number of each pose.
    """
    o = order[:n]
    S = sup[np.ix_(o, o)]  # in visiting order
    remaining = np.ones(n, dtype=bool)
    assign_sorted = np.empty(n, dtype=np.int64)
    picks: List[int] = []
    pos = 0
    while True:  # one iteration per kept pose
        members = remaining & S[pos]
        assign_sorted[members] = len(picks)
        picks.append(int(o[pos]))
        remaining &= ~members
        rest = remaining[pos + 1:]
        if not rest.any():
            break
        pos = pos + 1 + int(rest.argmax())
    assign = np.empty(n, dtype=np.int64)
    assign[o] = assign_sorted
    return picks, assign


def _run_chunk(chunk: _Chunk, p: PoseNMSParams, numpy_out: bool) -> List[PoseNMSResult]:
    device, dtype, K = chunk.device, chunk.dtype, chunk.K
    if chunk.M == 0:
        return [_empty_result(0, K, device, dtype, numpy_out) for _ in range(chunk.B)]
    sup = chunk.suppression(p)

    pick_img: List[int] = []
    pick_pos: List[int] = []
    member_mask = np.zeros((0, chunk.M), dtype=bool)
    masks = []
    assigns = []
    for b, n in enumerate(chunk.counts):  # loop over images
        if n == 0:
            assigns.append(np.zeros(0, dtype=np.int64))
            continue
        picks, assign = _greedy(sup[b], chunk.order[b], n)
        m = np.zeros((len(picks), chunk.M), dtype=bool)
        m[assign, np.arange(n)] = True
        masks.append(m)
        pick_img += [b] * len(picks)
        pick_pos += picks
        assigns.append(assign)
    if masks:
        member_mask = np.concatenate(masks)

    P = len(pick_img)
    pb = torch.as_tensor(pick_img, dtype=torch.long, device=device)
    pi = torch.as_tensor(pick_pos, dtype=torch.long, device=device)
    members = torch.from_numpy(member_mask).to(device)  # (P, M)

    # Merge every cluster at once.
    d_pick = chunk.d[pb, pi]  # (P, M, K) distance of each pose's joints to the taken pose's joints
    radius = chunk.ref[pb, pi].clamp(max=MERGE_RADIUS_CAP)  # (P,)
    contrib = members[:, :, None] & (d_pick <= radius[:, None, None])
    w = chunk.s[pb] * contrib.to(dtype)  # (P, M, K); the taken pose always contributes (d = 0)
    w_sum = w.sum(1)  # (P, K) > 0
    merged_kp = (w[..., None] * chunk.kp[pb]).sum(1) / w_sum[..., None]  # (P, K, 2)
    merged_s = (w * w).sum(1) / w_sum  # (P, K) = sum(s^2) / sum(s) over contributing members
    max_s = merged_s.max(-1).values
    extent = (merged_kp.max(1).values - merged_kp.min(1).values).prod(-1) * AREA_FACTOR  # (P,)
    keep = (chunk.raw_max[pb, pi] >= p.score_threshold) & (max_s >= p.score_threshold)
    keep &= extent >= p.min_area
    person_score = merged_s.mean(-1) + chunk.box_scores[pb, pi] + MAX_SCORE_WEIGHT * max_s

    keep_np = keep.cpu().numpy()
    kept = torch.from_numpy(np.flatnonzero(keep_np)).to(device)
    out_kp = to_output(merged_kp[kept], numpy_out)
    out_s = to_output(merged_s[kept], numpy_out)
    out_score = to_output(person_score[kept], numpy_out)
    out_box = to_output(chunk.boxes[pb, pi][kept], numpy_out)
    out_idx = to_output(pi[kept], numpy_out)

    # Renumber clusters to output persons (-1 for dropped ones), per image.
    new_id = np.full(P, -1, dtype=np.int64)
    img_arr = np.asarray(pick_img, dtype=np.int64)
    kept_img = img_arr[keep_np]
    # rank of each kept pick within its image
    starts_all = np.searchsorted(img_arr, np.arange(chunk.B))  # first pick of each image
    kept_counts = np.bincount(kept_img, minlength=chunk.B)
    kept_starts = np.concatenate([[0], np.cumsum(kept_counts)[:-1]])
    new_id[keep_np] = np.arange(len(kept_img)) - kept_starts[kept_img]

    results = []
    cuts = np.cumsum(kept_counts)[:-1]
    split = lambda a: (np.split(a, cuts) if numpy_out else torch.split(a, kept_counts.tolist()))  # noqa: E731
    parts = [split(a) for a in (out_kp, out_s, out_score, out_box, out_idx)]
    for b, n in enumerate(chunk.counts):  # loop over images
        if n == 0:
            results.append(_empty_result(0, K, device, dtype, numpy_out))
            continue
        local = new_id[starts_all[b]: starts_all[b] + int(assigns[b].max()) + 1]
        assignment = local[assigns[b]]  # (n,)
        sorted_members = np.argsort(assignment, kind="stable")
        member_counts = np.bincount(assignment[assignment >= 0], minlength=int(kept_counts[b]))
        skip = int((assignment < 0).sum())
        groups = np.split(sorted_members[skip:], np.cumsum(member_counts)[:-1]) if kept_counts[b] else []
        if not numpy_out:
            groups = [torch.from_numpy(g).to(device) for g in groups]
            assignment_out = torch.from_numpy(assignment).to(device)
        else:
            assignment_out = assignment
        results.append(
            PoseNMSResult(
                keypoints=parts[0][b],
                keypoint_scores=parts[1][b],
                scores=parts[2][b],
                boxes=parts[3][b],
                indices=parts[4][b],
                members=list(groups),
                assignment=assignment_out,
            )
        )
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


class PreparedProposals:
    """Proposals of many images converted, padded and with their pairwise joint distances
    computed once, so NMS can be rerun cheaply with other constants (the parameter search).

    Args: as :func:`batched_parametric_pose_nms`; ``alpha`` fixes ref_dist.
    """

    def __init__(self, boxes, box_scores, keypoints, keypoint_scores, alpha: float = 0.1) -> None:
        images, self.device, self.dtype, self.numpy_out = _convert_batch(
            boxes, box_scores, keypoints, keypoint_scores
        )
        self.num_images = len(images)
        self.alpha = float(alpha)
        self.K = int(images[0].keypoints.shape[1]) if images else 0
        self.chunks: List[_Chunk] = []
        group: List[_Image] = []
        biggest = 0
        for im in images:  # group images so one chunk's (B, M, M, K) stays bounded
            n = int(im.keypoints.shape[0])
            m = max(biggest, n)
            if group and (len(group) + 1) * m * m * max(self.K, 1) > _CHUNK_ELEMENTS:
                self.chunks.append(_Chunk(group, self.alpha))
                group, m = [], n
            group.append(im)
            biggest = m
        if group:
            self.chunks.append(_Chunk(group, self.alpha))

    def run(self, params: Any = None) -> List[PoseNMSResult]:
        """NMS of every image with ``params`` (its ``alpha`` must equal the prepared one)."""
        p = resolve_params(params)
        if p.alpha != self.alpha:
            raise PoseNMSError(
                f"params.alpha {p.alpha} differs from the alpha {self.alpha} these proposals were prepared with"
            )
        with torch.no_grad():
            out: List[PoseNMSResult] = []
            for chunk in self.chunks:
                out += _run_chunk(chunk, p, self.numpy_out)
        return out


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
        One :class:`PoseNMSResult` per image, torch tensors on the first image's device (numpy
        arrays when the first image's keypoints are not a tensor).

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
