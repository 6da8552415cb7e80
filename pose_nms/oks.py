"""Object keypoint similarity (COCO definition) and greedy OKS NMS.

OKS between a detection and a ground-truth pose (COCO keypoint evaluation):
``e_n = d_n^2 / (2 s^2 (2 sigma_n)^2)`` with ``s^2`` the ground-truth area, and
``OKS = mean over labelled ground-truth joints of exp(-e_n)``. A ground truth without labelled
joints uses, for every joint, the distance from the detection's joint to the region made by
growing the ground-truth box by its own size on every side (zero inside it), averaged over all K
joints.
"""
from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np
import torch

from ._arrays import check_finite, check_shape, compute_spec, to_output, to_tensor
from .errors import PoseNMSError

#: COCO-17 per-keypoint OKS standard deviations (COCOeval values). The project's one
#: definition: ``pose_nms`` may not import ``rmpe``, so ``rmpe.keypoints`` takes it from here.
COCO_SIGMAS = (
    0.026, 0.025, 0.025, 0.035, 0.035, 0.079, 0.079, 0.072, 0.072,
    0.062, 0.062, 0.107, 0.107, 0.087, 0.087, 0.089, 0.089,
)

_EPS = float(np.spacing(1))  # added to the area, as COCOeval does


def _sigmas(sigmas: Optional[Sequence[float]], K: int, device, dtype) -> torch.Tensor:
    if sigmas is None:
        sigmas = COCO_SIGMAS
    sig = torch.as_tensor(np.asarray(sigmas, dtype=np.float64), dtype=dtype, device=device).reshape(-1)
    if sig.numel() != K:
        raise PoseNMSError(
            f"sigmas: {sig.numel()} OKS sigmas given for {K} keypoints; pass one sigma per keypoint"
        )
    if not bool(torch.isfinite(sig).all()) or bool((sig <= 0).any()):
        raise PoseNMSError("sigmas: OKS sigmas must be finite and > 0")
    return sig


def coco_oks(
    dt_keypoints: Any,
    gt_keypoints: Any,
    gt_visible: Any,
    gt_areas: Any,
    sigmas: Optional[Sequence[float]] = None,
    gt_boxes_xywh: Any = None,
) -> Any:
    """OKS of every detection against every ground truth, as COCOeval computes it.

    Args:
        dt_keypoints: (D, K, 2) detected keypoints, image px.
        gt_keypoints: (G, K, 2) ground-truth keypoints, image px.
        gt_visible: (G, K) labelled flags (COCO ``v > 0``).
        gt_areas: (G,) ground-truth areas (px^2).
        sigmas: K OKS sigmas; default COCO-17.
        gt_boxes_xywh: (G, 4) ground-truth boxes in COCO ``[x, y, w, h]``, used only for ground
            truths without labelled joints. Without it such ground truths get OKS 0.

    Returns:
        (D, G) OKS (float64 for float64 input, else float32); numpy for numpy input.
    """
    device, dtype, numpy_out = compute_spec(dt_keypoints, gt_keypoints)
    dt = to_tensor(dt_keypoints, "dt_keypoints", device, dtype)
    gt = to_tensor(gt_keypoints, "gt_keypoints", device, dtype)
    check_shape(gt, "gt_keypoints", (None, None, 2), "(G, K, 2)")
    G, K = gt.shape[:2]
    check_shape(dt, "dt_keypoints", (None, K, 2), f"(D, {K}, 2)")
    vis = to_tensor(gt_visible, "gt_visible", device, dtype).reshape(G, K) > 0
    area = to_tensor(gt_areas, "gt_areas", device, dtype).reshape(G)
    var = (_sigmas(sigmas, K, device, dtype) * 2) ** 2  # (K,)

    dx = dt[:, None, :, 0] - gt[None, :, :, 0]  # (D, G, K)
    dy = dt[:, None, :, 1] - gt[None, :, :, 1]
    labelled = vis.any(1)  # (G,)
    if gt_boxes_xywh is not None and not bool(labelled.all()):
        bb = to_tensor(gt_boxes_xywh, "gt_boxes_xywh", device, dtype).reshape(G, 4)
        x0, x1 = bb[:, 0] - bb[:, 2], bb[:, 0] + bb[:, 2] * 2  # (G,)
        y0, y1 = bb[:, 1] - bb[:, 3], bb[:, 1] + bb[:, 3] * 2
        xd, yd = dt[:, None, :, 0], dt[:, None, :, 1]  # (D, 1, K)
        zero = torch.zeros((), dtype=dtype, device=device)
        mx = torch.maximum(zero, x0[None, :, None] - xd) + torch.maximum(zero, xd - x1[None, :, None])
        my = torch.maximum(zero, y0[None, :, None] - yd) + torch.maximum(zero, yd - y1[None, :, None])
        dx = torch.where(labelled[None, :, None], dx, mx)
        dy = torch.where(labelled[None, :, None], dy, my)
        use = torch.where(labelled[:, None], vis, torch.ones_like(vis))  # (G, K)
    else:
        use = vis
    e = (dx ** 2 + dy ** 2) / var / (area[None, :, None] + _EPS) / 2
    terms = torch.exp(-e) * use[None].to(dtype)
    count = use.sum(1).to(dtype)  # (G,)
    oks = terms.sum(-1) / count.clamp(min=1)[None]
    oks = oks.masked_fill((count == 0)[None], 0.0)
    return to_output(oks, numpy_out)


def _pairwise_oks(kp: torch.Tensor, s: Optional[torch.Tensor], areas: torch.Tensor, var: torch.Tensor,
                  keypoint_threshold: Optional[float]) -> torch.Tensor:
    """(N, N) OKS of pose j (detection) against pose i (reference with area areas[i])."""
    d2 = ((kp[:, None] - kp[None, :]) ** 2).sum(-1)  # (N, N, K) [i, j, n]
    e = d2 / var / (areas[:, None, None] + _EPS) / 2
    terms = torch.exp(-e)
    if keypoint_threshold is None or s is None:
        return terms.mean(-1)
    ok = (s > keypoint_threshold)
    use = (ok[:, None, :] & ok[None, :, :]).to(kp.dtype)  # joints confident in both poses
    count = use.sum(-1)
    return torch.where(count > 0, (terms * use).sum(-1) / count.clamp(min=1), torch.zeros_like(count))


def oks_nms(
    keypoints: Any,
    keypoint_scores: Any,
    scores: Any,
    areas: Any = None,
    threshold: float = 0.9,
    sigmas: Optional[Sequence[float]] = COCO_SIGMAS,
    keypoint_threshold: Optional[float] = None,
) -> Any:
    """Greedy OKS NMS: keep the highest-scoring pose, drop every remaining pose whose OKS to it
    exceeds ``threshold``, repeat.

    The kept pose acts as the ground truth: its area scales the OKS. Ties in ``scores`` keep
    the lower index first.

    Args:
        keypoints: (N, K, 2) keypoints, image px.
        keypoint_scores: (N, K) keypoint scores, or None. Used only with ``keypoint_threshold``.
        scores: (N,) person scores.
        areas: (N,) areas in px^2; None uses the area of each pose's keypoint extent.
        threshold: OKS above which a pose is suppressed.
        sigmas: K OKS sigmas (default COCO-17; required for other keypoint sets).
        keypoint_threshold: if set, only joints scored above it in both poses enter the OKS
            (a pair with no such joint has OKS 0).

    Returns:
        (P,) int64 indices of the kept poses, highest score first (numpy for numpy input).

    Raises:
        PoseNMSError: mismatched shapes, NaN/inf values, wrong number of sigmas.
    """
    device, dtype, numpy_out = compute_spec(keypoints, scores)
    kp = to_tensor(keypoints, "keypoints", device, dtype)
    if kp.dim() == 3 and kp.shape[0] == 0:
        return to_output(torch.zeros(0, dtype=torch.long, device=device), numpy_out)
    check_shape(kp, "keypoints", (None, None, 2), "(N, K, 2)")
    N, K = kp.shape[:2]
    sc = to_tensor(scores, "scores", device, dtype).reshape(-1)
    check_shape(sc, "scores", (N,), f"({N},)")
    ks = None
    if keypoint_scores is not None:
        ks = to_tensor(keypoint_scores, "keypoint_scores", device, dtype)
        check_shape(ks, "keypoint_scores", (N, K), f"({N}, {K})")
        check_finite(ks, "keypoint_scores")
    if areas is None:
        extent = kp.max(1).values - kp.min(1).values  # (N, 2)
        ar = extent[:, 0] * extent[:, 1]
    else:
        ar = to_tensor(areas, "areas", device, dtype).reshape(-1)
        check_shape(ar, "areas", (N,), f"({N},)")
    check_finite(kp, "keypoints")
    check_finite(sc, "scores")
    check_finite(ar, "areas")
    var = (_sigmas(sigmas, K, device, dtype) * 2) ** 2
    with torch.no_grad():
        over = (_pairwise_oks(kp, ks, ar, var, keypoint_threshold) > threshold).cpu().numpy()
        order = torch.sort(sc, descending=True, stable=True).indices.cpu().numpy()
    S = over[np.ix_(order, order)]
    remaining = np.ones(N, dtype=bool)
    kept = []
    pos = 0
    while True:  # one iteration per kept pose
        kept.append(int(order[pos]))
        remaining[pos] = False
        remaining &= ~S[pos]
        rest = remaining[pos + 1:]
        if not rest.any():
            break
        pos = pos + 1 + int(rest.argmax())
    return to_output(torch.as_tensor(kept, dtype=torch.long, device=device), numpy_out)
