"""The greedy selection of the parametric pose NMS, in two equivalent formulations.

Greedy (DESIGN.md section 5): take the remaining pose with the highest pose score (ties: the
lower index); for every remaining pose of the same image, per joint distance d_n to the taken
pose; similarity = sum_n [d_n <= 1] tanh(s_ref,n / delta1) tanh(s_cand,n / delta1)
+ mu * sum_n exp(-d_n / delta2); matches = #joints with d_n <= min(ref_dist, 7) px. Every
remaining pose with similarity > gamma or matches >= match_threshold joins the taken pose's
cluster and leaves; the taken pose is always in its own cluster. In ``"normalized"`` mode d_n
is divided by the taken pose's ref_dist inside the similarity and the joint-count rule is off.

* :func:`greedy_dense` (inputs up to ``DENSE_LIMIT`` elements, e.g. one image): all pairwise
  criteria of each image at once on padded (B, M, M, K) tensors, then one step per kept pose on
  a CPU copy of the (B, M, M) suppression matrix. Fewer tensor operations.
* :func:`greedy_stepwise` (large inputs): step t takes the t-th kept pose of every image that
  still has poses left and compares it with all remaining poses of its image in one tensor
  operation over (remaining poses, joints). The work is the number of (taken, remaining) pairs
  the greedy really visits, not all N^2 pairs.

Both return ``pick_of`` (T,): for every proposal the flat index of the taken pose whose cluster
it joined, and ``picks`` (P,): the taken poses, image-major, in taking order.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Tuple

import numpy as np
import torch

from .params import PoseNMSParams

if TYPE_CHECKING:  # only for annotations: parametric.py imports this module
    from .parametric import PreparedProposals

#: The joint-count rule counts joints within min(ref_dist, MATCH_RADIUS_CAP) px.
MATCH_RADIUS_CAP = 7.0
#: Up to this many (images x poses x poses x joints) elements the all-pairs formulation is used
#: (fewer tensor operations for small inputs); above it the step-wise greedy (less work).
DENSE_LIMIT = 100_000
#: The step-wise greedy skips far-away candidates (bounding-box test) when more than this many
#: poses remain; below it the test costs more tensor operations than it saves.
PRUNE_MIN = 1024


def greedy(prep: "PreparedProposals", p: PoseNMSParams) -> Tuple[torch.Tensor, torch.Tensor]:
    """The greedy of every image of ``prep`` (at least one proposal), dense or step-wise by size.

    Returns:
        pick_of (T,) and picks (P,), see the module docstring.
    """
    if prep.num_images * max(prep.counts) ** 2 * prep.K <= DENSE_LIMIT:
        return greedy_dense(prep, p)
    return greedy_stepwise(prep, p)


def _similarity_distances(d: torch.Tensor, ref: torch.Tensor, p: PoseNMSParams) -> torch.Tensor:
    """The joint distances the similarity uses: ``d`` px, or ``d / ref`` in normalized mode.

    A taken pose with ref_dist 0 counts a coinciding joint as distance 0 and any other as inf.

    Args:
        d: (..., K) joint distances, px.
        ref: ref_dist of the taken pose, broadcastable to ``d``.
    """
    if p.distance != "normalized":
        return d
    safe = torch.where(ref > 0, ref, torch.ones_like(ref))
    return torch.where(ref > 0, d / safe, torch.where(d == 0, 0.0, float("inf")).to(d.dtype))


def greedy_dense(prep: "PreparedProposals", p: PoseNMSParams) -> Tuple[torch.Tensor, torch.Tensor]:
    """All pairwise criteria of each image at once, then the greedy on the suppression matrix."""
    dev, dtype = prep.device, prep.dtype
    B, M, K = prep.num_images, max(prep.counts), prep.K
    tanh_flat = torch.tanh(prep.s / p.delta1)
    if B == 1:
        kp, tanh_s, ref = prep.kp[prep.order][None], tanh_flat[prep.order][None], prep.ref[prep.order][None]
    else:  # padded, each image's poses in visiting order
        image_o = prep.image[prep.order]
        rank = torch.arange(prep.total, device=dev) - prep.starts[image_o]  # position in its image
        kp = torch.zeros(B, M, K, 2, dtype=dtype, device=dev)
        kp[image_o, rank] = prep.kp[prep.order]
        tanh_s = torch.zeros(B, M, K, dtype=dtype, device=dev)
        tanh_s[image_o, rank] = tanh_flat[prep.order]
        ref = torch.zeros(B, M, dtype=dtype, device=dev)
        ref[image_o, rank] = prep.ref[prep.order]
    x, y = kp[..., 0], kp[..., 1]
    dx = x[:, :, None, :] - x[:, None, :, :]
    dy = y[:, :, None, :] - y[:, None, :, :]
    d = torch.sqrt(dx * dx + dy * dy)  # (B, M, M, K) px, [b, taken i, candidate j, joint]
    ref_taken = ref[:, :, None, None]
    sim_d = _similarity_distances(d, ref_taken, p)
    close = ((tanh_s[:, :, None, :] * tanh_s[:, None, :, :]).masked_fill_(sim_d > 1, 0.0)).sum(-1)
    suppress = (close + p.mu * (sim_d * (-1.0 / p.delta2)).exp_().sum(-1)) > p.gamma  # (B, M, M)
    if p.distance == "pixel":
        suppress |= torch.count_nonzero(d <= ref_taken.clamp(max=MATCH_RADIUS_CAP), dim=-1) >= p.match_threshold
    suppress_np = suppress.cpu().numpy()

    counts = np.asarray(prep.counts)
    remaining = np.arange(M)[None, :] < counts[:, None]  # (B, M) in visiting order
    cluster = np.full((B, M), -1, dtype=np.int64)  # step at which each pose was removed
    taken = []
    rows = np.arange(B)
    while True:  # one step per kept pose (all images at once)
        has = remaining.any(1)
        if not has.any():
            break
        pos = remaining.argmax(1)  # best remaining pose of each image
        hit = suppress_np[rows, pos] & remaining & has[:, None]
        hit[rows[has], pos[has]] = True
        cluster[hit] = len(taken)
        taken.append(np.where(has, pos, -1))
        remaining &= ~hit
    taken_pos = np.stack(taken)  # (steps, B) visiting position of each image's taken pose
    order_np = prep.order.cpu().numpy()
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    # flat index of the pose at (image b, visiting position m) is order_np[starts[b] + m]
    valid = np.arange(M)[None, :] < counts[:, None]
    b_idx, m_idx = np.nonzero(valid)
    flat_at = order_np[starts[b_idx] + m_idx]
    step = cluster[b_idx, m_idx]
    pick_of_np = np.empty(prep.total, dtype=np.int64)
    pick_of_np[flat_at] = order_np[starts[b_idx] + taken_pos[step, b_idx]]
    tb, ts = np.nonzero(taken_pos.T >= 0)  # image-major, then step: taking order per image
    picks_np = order_np[starts[tb] + taken_pos[ts, tb]]
    return torch.from_numpy(pick_of_np).to(dev), torch.from_numpy(picks_np).to(dev)


def suppression_reach(p: PoseNMSParams, num_keypoints: int) -> Tuple[float, float]:
    """Distance beyond which a pose cannot be suppressed: if every joint of a candidate is
    farther than ``fixed + per_ref * ref_dist`` px from the taken pose's joint, the close term
    is 0, no joint counts as a match and mu * K * exp(-d / delta2) <= gamma.

    Returns:
        (fixed px, multiple of the taken pose's ref_dist); fixed is inf when nothing is safe.
    """
    if p.gamma < 0:
        return float("inf"), 0.0
    mk = p.mu * num_keypoints
    decay = p.delta2 * math.log(mk / p.gamma) if p.gamma > 0 and mk > p.gamma else (0.0 if mk == 0 else None)
    if decay is None:  # gamma == 0 with mu > 0: any candidate scores above it
        return float("inf"), 0.0
    if p.distance == "normalized":
        return 0.0, max(1.0, decay)
    return max(1.0, MATCH_RADIUS_CAP, decay), 0.0


def greedy_stepwise(prep: "PreparedProposals", p: PoseNMSParams) -> Tuple[torch.Tensor, torch.Tensor]:
    """One tensor operation per greedy step over all images' remaining poses.

    Candidates whose keypoint bounding box lies beyond :func:`suppression_reach` of the taken
    pose's (the gap between the boxes bounds every joint distance from below) are skipped
    without the per-joint work. Per-candidate quantities are separate contiguous rows so the
    gathers copy whole rows.
    """
    dev, K = prep.device, prep.K
    # per proposal [x_1..x_K, y_1..y_K, tanh(s / delta1)_1..K]: one row gather per lookup
    feats = torch.cat([prep.x, prep.y, torch.tanh(prep.s / p.delta1)], 1)  # (T, 3K)
    normalized = p.distance == "normalized"
    scale = -1.0 / p.delta2
    fixed, per_ref = suppression_reach(p, K)
    prune = math.isfinite(fixed)
    steps = []
    minus_one = torch.full((1,), -1, dtype=torch.long, device=dev)
    remaining = prep.order  # (E,) remaining proposals (flat indices), image-major, best pose first
    while remaining.numel() > 0:  # one step per kept pose (all images at once)
        E = remaining.numel()
        first = torch.diff(prep.image.index_select(0, remaining), prepend=minus_one) != 0  # best pose of its image
        segment = torch.cummax(torch.where(first, torch.arange(E, device=dev), 0), 0).values
        taken = remaining.index_select(0, segment)  # (E,) the pose taken in each candidate's image
        if prune and E > PRUNE_MIN:  # taken poses stay in (distance 0); `first` overrides them
            cand_box, taken_box = prep.kp_box.index_select(0, remaining), prep.kp_box.index_select(0, taken)
            gap = torch.maximum(cand_box[:, :2] - taken_box[:, 2:], taken_box[:, :2] - cand_box[:, 2:]).clamp_(min=0)
            gap2 = (gap * gap).sum(1)
            if per_ref:
                reach = (fixed + per_ref * prep.ref.index_select(0, taken)) * (1 + 1e-6) + 1e-6
                near = torch.nonzero(gap2 <= reach * reach).squeeze(1)
            else:
                near = torch.nonzero(gap2 <= (fixed * (1 + 1e-6) + 1e-6) ** 2).squeeze(1)
            candidate, taken_pose = remaining.index_select(0, near), taken.index_select(0, near)
            cand_feats = feats.index_select(0, candidate)  # (E', 3K)
            taken_feats = feats.index_select(0, taken_pose)  # (E', 3K)
        else:  # every remaining pose
            near, taken_pose = None, taken
            cand_feats = feats.index_select(0, remaining)
            taken_feats = cand_feats.index_select(0, segment)
        dx = cand_feats[:, :K] - taken_feats[:, :K]
        dy = cand_feats[:, K:2 * K] - taken_feats[:, K:2 * K]
        d = (dx * dx).add_(dy * dy).sqrt_()  # (E', K) px
        ref_taken = prep.ref.index_select(0, taken_pose)  # (E',) ref_dist of the taken pose
        sim_d = _similarity_distances(d, ref_taken[:, None], p)
        tanh_products = cand_feats[:, 2 * K:] * taken_feats[:, 2 * K:]  # (E', K)
        sim = tanh_products.masked_fill_(sim_d > 1, 0.0).sum(1) + p.mu * (sim_d * scale).exp_().sum(1)
        hit = sim > p.gamma
        if not normalized:
            hit |= torch.count_nonzero(d <= ref_taken.clamp(max=MATCH_RADIUS_CAP)[:, None], dim=1) >= p.match_threshold
        if near is None:
            suppressed = hit | first
        else:  # taken poses stay taken
            suppressed = first.index_put((near,), hit | first.index_select(0, near))
        steps.append((remaining, taken, suppressed, first))
        remaining = remaining[~suppressed]
    all_remaining = torch.cat([s[0] for s in steps])
    all_taken = torch.cat([s[1] for s in steps])
    all_suppressed = torch.cat([s[2] for s in steps])
    all_first = torch.cat([s[3] for s in steps])
    pick_of = torch.empty(prep.total, dtype=torch.long, device=dev)
    pick_of[all_remaining[all_suppressed]] = all_taken[all_suppressed]
    picks = all_remaining[all_first]  # step-major
    picks = picks[torch.sort(prep.image[picks], stable=True).indices]  # image-major, taking order kept
    return pick_of, picks
