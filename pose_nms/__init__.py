"""Redundant-pose elimination for top-down multi-person pose estimation.

* :func:`parametric_pose_nms` / :func:`batched_parametric_pose_nms`: RMPE's parametric pose NMS
  with AlphaPose's constants (DESIGN.md section 5), vectorised, CPU or CUDA, torch or numpy.
* :func:`oks_nms`: greedy OKS NMS; :func:`coco_oks`: COCOeval's OKS.
* :func:`search_params`: coordinate search of (delta1, delta2, mu, gamma) against an objective
  such as COCO keypoint AP; :func:`load_params` / :func:`save_params` for the YAML it writes.

This package depends on torch, numpy and pyyaml only; it never imports ``rmpe``.
"""
from .errors import PoseNMSError
from .oks import COCO_SIGMAS, coco_oks, oks_nms
from .parametric import (
    PoseNMSResult,
    PreparedProposals,
    batched_parametric_pose_nms,
    parametric_pose_nms,
)
from .params import PoseNMSParams, load_params, save_params
from .search import SearchResult, search_params, to_coco_results

__all__ = [
    "COCO_SIGMAS",
    "PoseNMSError",
    "PoseNMSParams",
    "PoseNMSResult",
    "PreparedProposals",
    "SearchResult",
    "batched_parametric_pose_nms",
    "coco_oks",
    "load_params",
    "oks_nms",
    "parametric_pose_nms",
    "save_params",
    "search_params",
    "to_coco_results",
]
