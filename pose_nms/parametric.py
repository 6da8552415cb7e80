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

Vectorisation: the proposals of all images are flattened into one list sorted by (image, pose
score). Two formulations give identical results:

* step-wise (large inputs): step t of the only Python loop takes the t-th kept pose of every
  image that still has poses left and compares it with all remaining poses of its image in one
  tensor operation over (remaining poses, joints); the suppressed poses leave the list. The loop
  runs as many times as the most poses one image keeps, and the work is the number of (taken,
  remaining) pairs the greedy really visits, not all N^2 pairs.
* dense (inputs up to ``DENSE_LIMIT`` elements, e.g. one image): all pairwise criteria of each
  image at once on padded (B, M, M, K) tensors, then the same step loop on a CPU copy of the
  (B, M, M) suppression matrix. Fewer tensor operations, which dominates for small inputs.

The merge is one scatter-add over all proposals (each belongs to exactly one cluster).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, List, Sequence, Tuple

import numpy as np
import torch

from ._arrays import compute_spec, to_output
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
#: Up to this many (images x poses x poses x joints) elements the all-pairs formulation is used
#: (fewer tensor operations for small inputs); above it the step-wise greedy (less work).
DENSE_LIMIT = 100_000
#: The step-wise greedy skips far-away candidates (bounding-box test) when more than this many
#: poses remain; below it the test costs more tensor operations than it saves.
PRUNE_MIN = 1024


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


def _as_array(value: Any, name: str):
    if isinstance(value, torch.Tensor):
        return value.detach()
    if isinstance(value, np.ndarray) and value.dtype.kind in "fiub":
        return value
    try:
        arr = np.asarray(value)
        if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
            raise TypeError
        return arr
    except (TypeError, ValueError):
        raise PoseNMSError(f"{name}: expected a numeric array, got {type(value).__name__}") from None


def _numel(a: Any) -> int:
    return int(a.numel()) if isinstance(a, torch.Tensor) else int(a.size)


def _concat(items: List[Any], device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """Concatenate per-image arrays (already shape-checked) into one tensor."""
    if all(isinstance(a, np.ndarray) for a in items):
        cat = np.concatenate(items)
        if cat.dtype not in (np.float32, np.float64) or not cat.dtype.isnative:
            cat = cat.astype(np.float64)
        return torch.from_numpy(cat).to(device, dtype)
    return torch.cat([a.to(device, dtype) if isinstance(a, torch.Tensor)
                      else torch.from_numpy(np.asarray(a, dtype=np.float64)).to(device, dtype) for a in items])


def _flatten_inputs(boxes, box_scores, keypoints, keypoint_scores):
    """Check the per-image lists and flatten them.

    Returns:
        (kp (T, K, 2), raw scores (T, K), boxes (T, 4), box scores (T,), counts list,
        device, dtype, numpy_out), T = total proposals.
    """
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
    B = len(keypoints)
    single = B == 1
    where = (lambda b: "") if single else (lambda b: f"image {b}: ")  # noqa: E731
    kps = [_as_array(a, f"{where(b)}keypoints") for b, a in enumerate(keypoints)]
    K = None
    for b, a in enumerate(kps):
        if a.ndim == 3 and a.shape[-1] == 2:
            if K is None:
                K = int(a.shape[1])
            elif a.shape[1] != K and a.shape[0] > 0:
                raise PoseNMSError(
                    f"{where(b)}keypoints: all images must have the same number of joints, got {a.shape[1]} and {K}"
                )
        elif _numel(a) != 0:
            raise PoseNMSError(f"{where(b)}keypoints: expected shape (N, K, 2), got {tuple(a.shape)}")
    if K is None:
        K = 0
    if K == 0 and any(_numel(a) for a in kps):
        raise PoseNMSError("keypoints: K must be at least 1 joint per pose")
    counts = [int(a.shape[0]) if a.ndim == 3 else 0 for a in kps]
    # the first image with proposals decides device, dtype and the output kind
    ref_b = next((b for b, n in enumerate(counts) if n), 0)
    device, dtype, numpy_out = compute_spec(
        keypoints[ref_b] if B else np.zeros(0), *(lst[ref_b] for lst in lists if B)
    )

    def checked(seq, name, tail: Tuple[int, ...]):
        out = []
        for b, value in enumerate(seq):
            a = _as_array(value, f"{where(b)}{name}")
            n = counts[b]
            if n == 0 and _numel(a) == 0:
                a = a.reshape((0,) + tail)
            if tuple(a.shape) != (n,) + tail:
                text = "(" + ", ".join(str(v) for v in (n,) + tail) + ("," if not tail else "") + ")"
                raise PoseNMSError(f"{where(b)}{name}: expected shape {text} for {n} poses, got {tuple(a.shape)}")
            out.append(a)
        return out

    kps = [a.reshape(0, K, 2) if _numel(a) == 0 else a for a in kps]
    kb = checked(boxes, "boxes", (4,))
    ks = checked(box_scores, "box_scores", ())
    kk = checked(keypoint_scores, "keypoint_scores", (K,))
    T = sum(counts)
    if T == 0:
        z = torch.zeros
        return (z(0, K, 2, dtype=dtype, device=device), z(0, K, dtype=dtype, device=device),
                z(0, 4, dtype=dtype, device=device), z(0, dtype=dtype, device=device),
                counts, K, device, dtype, numpy_out)
    kp_t = _concat(kps, device, dtype)
    raw_t = _concat(kk, device, dtype)
    box_t = _concat(kb, device, dtype)
    bs_t = _concat(ks, device, dtype)
    arrays = ((kp_t, "keypoints"), (box_t, "boxes"), (bs_t, "box_scores"), (raw_t, "keypoint_scores"))
    # one reduction per array and one sync; NaN/inf propagate into the sums
    sums = torch.stack([t.sum() for t, _ in arrays])
    if not bool(torch.isfinite(sums).all()):
        starts = np.concatenate([[0], np.cumsum(counts)])
        for t, name in arrays:
            bad = ~torch.isfinite(t.reshape(t.shape[0], -1)).all(1)
            if not bool(bad.any()):
                continue  # a huge but finite sum overflowed
            row = int(torch.nonzero(bad)[0, 0])
            b = int(np.searchsorted(starts, row, side="right") - 1)
            raise PoseNMSError(
                f"{where(b)}{name} contain NaN or infinite values (proposal {row - starts[b]}); "
                "drop or fix those entries before NMS"
            )
    return kp_t, raw_t, box_t, bs_t, counts, K, device, dtype, numpy_out


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
    """

    def __init__(self, boxes, box_scores, keypoints, keypoint_scores, alpha: float = 0.1) -> None:
        (self.kp, raw, self.boxes, self.box_scores, self.counts, self.K, self.device, self.dtype,
         self.numpy_out) = _flatten_inputs(boxes, box_scores, keypoints, keypoint_scores)
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
            if self._dense_size() <= DENSE_LIMIT:
                pick_of, picks = self._greedy_dense(p)
            else:
                pick_of, picks = self._greedy(p)
            return self._merge(p, pick_of, picks)

    # -- greedy ---------------------------------------------------------------------------

    def _dense_size(self) -> int:
        return self.num_images * max(self.counts) ** 2 * self.K

    def _greedy_dense(self, p: PoseNMSParams) -> Tuple[torch.Tensor, torch.Tensor]:
        """Same result as :meth:`_greedy` for small inputs: all pairwise criteria of each image
        at once on padded (B, M, M, K) tensors, then the greedy on a CPU copy of the (B, M, M)
        suppression matrix, one step per kept pose for all images together."""
        dev, dtype = self.device, self.dtype
        B, M, K = self.num_images, max(self.counts), self.K
        t_flat = torch.tanh(self.s / p.delta1)
        if B == 1:
            kp, t, ref = self.kp[self.order][None], t_flat[self.order][None], self.ref[self.order][None]
        else:  # padded, each image's poses in visiting order
            img_o = self.image[self.order]
            rank = torch.arange(self.total, device=dev) - self.starts[img_o]  # position in its image
            kp = torch.zeros(B, M, K, 2, dtype=dtype, device=dev)
            kp[img_o, rank] = self.kp[self.order]
            t = torch.zeros(B, M, K, dtype=dtype, device=dev)
            t[img_o, rank] = t_flat[self.order]
            ref = torch.zeros(B, M, dtype=dtype, device=dev)
            ref[img_o, rank] = self.ref[self.order]
        x, y = kp[..., 0], kp[..., 1]
        dx = x[:, :, None, :] - x[:, None, :, :]
        dy = y[:, :, None, :] - y[:, None, :, :]
        d = torch.sqrt(dx * dx + dy * dy)  # (B, M, M, K) px, [b, taken i, candidate j, joint]
        r = ref[:, :, None, None]
        if p.distance == "normalized":
            safe = torch.where(r > 0, r, torch.ones_like(r))
            dd = torch.where(r > 0, d / safe, torch.where(d == 0, 0.0, float("inf")).to(dtype))
        else:
            dd = d
        close = ((t[:, :, None, :] * t[:, None, :, :]).masked_fill_(dd > 1, 0.0)).sum(-1)
        sup = (close + p.mu * (dd * (-1.0 / p.delta2)).exp_().sum(-1)) > p.gamma  # (B, M, M)
        if p.distance == "pixel":
            sup |= torch.count_nonzero(d <= r.clamp(max=MATCH_RADIUS_CAP), dim=-1) >= p.match_threshold
        S = sup.cpu().numpy()

        counts = np.asarray(self.counts)
        rem = np.arange(M)[None, :] < counts[:, None]  # (B, M) in visiting order
        cluster = np.full((B, M), -1, dtype=np.int64)  # step at which each pose was removed
        taken = []
        rows = np.arange(B)
        while True:  # one step per kept pose (all images at once)
            has = rem.any(1)
            if not has.any():
                break
            pos = rem.argmax(1)  # best remaining pose of each image
            hit = S[rows, pos] & rem & has[:, None]
            hit[rows[has], pos[has]] = True
            cluster[hit] = len(taken)
            taken.append(np.where(has, pos, -1))
            rem &= ~hit
        taken_pos = np.stack(taken)  # (steps, B) visiting position of each image's taken pose
        order_np = self.order.cpu().numpy()
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        # flat index of the pose at (image b, visiting position m) is order_np[starts[b] + m]
        valid = np.arange(M)[None, :] < counts[:, None]
        b_idx, m_idx = np.nonzero(valid)
        flat_at = order_np[starts[b_idx] + m_idx]
        step = cluster[b_idx, m_idx]
        pick_of_np = np.empty(self.total, dtype=np.int64)
        pick_of_np[flat_at] = order_np[starts[b_idx] + taken_pos[step, b_idx]]
        tb, ts = np.nonzero(taken_pos.T >= 0)  # image-major, then step: taking order per image
        picks_np = order_np[starts[tb] + taken_pos[ts, tb]]
        return torch.from_numpy(pick_of_np).to(dev), torch.from_numpy(picks_np).to(dev)

    def _reach(self, p: PoseNMSParams) -> Tuple[float, float]:
        """Distance beyond which a pose cannot be suppressed: if every joint of a candidate is
        farther than ``fixed + per_ref * ref_dist`` px from the taken pose's joint, the close
        term is 0, no joint counts as a match and mu * K * exp(-d / delta2) <= gamma.

        Returns (fixed px, multiple of the taken pose's ref_dist); inf when nothing is safe."""
        if p.gamma < 0:
            return float("inf"), 0.0
        mk = p.mu * self.K
        decay = p.delta2 * math.log(mk / p.gamma) if p.gamma > 0 and mk > p.gamma else (0.0 if mk == 0 else None)
        if decay is None:  # gamma == 0 with mu > 0: any candidate scores above it
            return float("inf"), 0.0
        if p.distance == "normalized":
            return 0.0, max(1.0, decay)
        return max(1.0, MATCH_RADIUS_CAP, decay), 0.0

    def _greedy(self, p: PoseNMSParams) -> Tuple[torch.Tensor, torch.Tensor]:
        """Returns pick_of (T,): the flat index of the taken pose whose cluster each proposal
        joined; picks (P,): taken poses, image-major, in taking order.

        Candidates whose keypoint bounding box lies beyond :meth:`_reach` of the taken pose's
        (the gap between the boxes bounds every joint distance from below) are skipped without
        the per-joint work. Per-candidate quantities are separate contiguous (E, K) tensors so
        the gathers copy whole rows.
        """
        dev, K = self.device, self.K
        # per proposal [x_1..x_K, y_1..y_K, tanh(s / delta1)_1..K]: one row gather per lookup
        feats = torch.cat([self.x, self.y, torch.tanh(self.s / p.delta1)], 1)  # (T, 3K)
        normalized = p.distance == "normalized"
        scale = -1.0 / p.delta2
        fixed, per_ref = self._reach(p)
        prune = math.isfinite(fixed)
        steps = []
        minus_one = torch.full((1,), -1, dtype=torch.long, device=dev)
        rem = self.order  # (E,) remaining proposals (flat indices), image-major, best pose first
        while rem.numel() > 0:  # one step per kept pose (all images at once)
            E = rem.numel()
            first = torch.diff(self.image.index_select(0, rem), prepend=minus_one) != 0  # best pose of its image
            seg = torch.cummax(torch.where(first, torch.arange(E, device=dev), 0), 0).values
            taken = rem.index_select(0, seg)  # (E,) the pose taken in each candidate's image
            if prune and E > PRUNE_MIN:  # taken poses stay in (distance 0); `first` overrides them
                cb, tb = self.kp_box.index_select(0, rem), self.kp_box.index_select(0, taken)
                gap = torch.maximum(cb[:, :2] - tb[:, 2:], tb[:, :2] - cb[:, 2:]).clamp_(min=0)
                gap2 = (gap * gap).sum(1)
                if per_ref:
                    reach = (fixed + per_ref * self.ref.index_select(0, taken)) * (1 + 1e-6) + 1e-6
                    near = torch.nonzero(gap2 <= reach * reach).squeeze(1)
                else:
                    near = torch.nonzero(gap2 <= (fixed * (1 + 1e-6) + 1e-6) ** 2).squeeze(1)
                cand, ref_pose = rem.index_select(0, near), taken.index_select(0, near)
                fc, fr = feats.index_select(0, cand), feats.index_select(0, ref_pose)  # (E', 3K)
            else:  # every remaining pose
                near, ref_pose = None, taken
                fc = feats.index_select(0, rem)
                fr = fc.index_select(0, seg)
            dx, dy = fc[:, :K] - fr[:, :K], fc[:, K:2 * K] - fr[:, K:2 * K]
            d = (dx * dx).add_(dy * dy).sqrt_()  # (E', K) px
            r = self.ref.index_select(0, ref_pose)  # (E',) ref_dist of the taken pose
            if normalized:
                r_ = r[:, None]
                safe = torch.where(r_ > 0, r_, torch.ones_like(r_))
                dd = torch.where(r_ > 0, d / safe, torch.where(d == 0, 0.0, float("inf")).to(d.dtype))
            else:
                dd = d
            tt = fc[:, 2 * K:] * fr[:, 2 * K:]
            sim = tt.masked_fill_(dd > 1, 0.0).sum(1) + p.mu * (dd * scale).exp_().sum(1)
            hit = sim > p.gamma
            if not normalized:
                hit |= torch.count_nonzero(d <= r.clamp(max=MATCH_RADIUS_CAP)[:, None], dim=1) >= p.match_threshold
            if near is None:
                sup = hit | first
            else:
                sup = first.index_put((near,), hit | first.index_select(0, near))  # taken poses stay taken
            steps.append((rem, taken, sup, first))
            rem = rem[~sup]
        all_rem = torch.cat([s[0] for s in steps])
        all_pick = torch.cat([s[1] for s in steps])
        all_sup = torch.cat([s[2] for s in steps])
        all_first = torch.cat([s[3] for s in steps])
        pick_of = torch.empty(self.total, dtype=torch.long, device=dev)
        pick_of[all_rem[all_sup]] = all_pick[all_sup]
        picks = all_rem[all_first]  # step-major
        picks = picks[torch.sort(self.image[picks], stable=True).indices]  # image-major, taking order kept
        return pick_of, picks

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
