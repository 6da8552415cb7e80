"""PGPG: pose-guided proposals generator (RMPE, Fang et al. 2017) and AlphaPose's jitter baseline.

Fit atomic poses (k-means++ on torso-normalised poses) and per-atom Gaussian mixtures of
detector box offsets, then draw training proposals for a person from the mixture of its
atomic pose. Imports numpy only; never imports ``rmpe``.

Example::

    from pgpg import ProposalGenerator, build_proposal_generator

    gen = ProposalGenerator.fit(gt_boxes, keypoints, gt_image_ids, det_boxes, det_image_ids, k=8)
    gen.save("pgpg.npz")
    gen = build_proposal_generator("pgpg", "pgpg.npz", probability=0.8)
    boxes = gen.sample(gt_box, keypoints_k3, n=4, rng=np.random.default_rng(0))  # (4, 4) xyxy
"""
from .atomic_poses import AtomicPoses
from .errors import PGPGError
from .generator import (
    ALPHAPOSE_OFFSET_MEAN,
    ALPHAPOSE_OFFSET_STD,
    ALPHAPOSE_SUBPATCH_PROBABILITY,
    ProposalGenerator,
    available_proposal_generators,
    build_proposal_generator,
    enforce_min_size,
    random_subpatches,
    register_proposal_generator,
)
from .gmm import GaussianMixture
from .kmeans import KMeansResult, kmeans, masked_sq_distances
from .matching import apply_offsets, box_iou, box_offsets, match_boxes
from .normalize import COCO_HIPS, COCO_SHOULDERS, NormalizedPoses, normalize_poses
from .offsets import OffsetModel

__all__ = [
    "ALPHAPOSE_OFFSET_MEAN",
    "ALPHAPOSE_OFFSET_STD",
    "ALPHAPOSE_SUBPATCH_PROBABILITY",
    "AtomicPoses",
    "COCO_HIPS",
    "COCO_SHOULDERS",
    "GaussianMixture",
    "KMeansResult",
    "NormalizedPoses",
    "OffsetModel",
    "PGPGError",
    "ProposalGenerator",
    "apply_offsets",
    "available_proposal_generators",
    "box_iou",
    "box_offsets",
    "build_proposal_generator",
    "enforce_min_size",
    "kmeans",
    "masked_sq_distances",
    "match_boxes",
    "normalize_poses",
    "random_subpatches",
    "register_proposal_generator",
]
