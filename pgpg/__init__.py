"""PGPG: pose-guided proposals generator (RMPE, Fang et al. 2017) and AlphaPose's jitter baseline.

Fit atomic poses (k-means++ on torso-normalised poses) and per-atom Gaussian mixtures of
detector box offsets, then draw training proposals for a person from the mixture of its
atomic pose. Imports numpy only; never imports ``rmpe``.

Layout: ``proposals.py`` (the generator classes and their sampling), ``fit.py`` (fitting
PGPG), ``serialization.py`` (model files), ``registry.py`` (name -> class, building from a
config); below them ``normalize.py``, ``kmeans.py``, ``atomic_poses.py``, ``gmm.py``,
``offsets.py`` and ``matching.py``.

Example::

    from pgpg import build_proposal_generator, fit_pgpg, save_proposal_generator

    gen = fit_pgpg(gt_boxes, keypoints, gt_image_ids, det_boxes, det_image_ids, k=8)
    save_proposal_generator(gen, "pgpg.npz")
    gen = build_proposal_generator("pgpg", "pgpg.npz", probability=0.8)
    boxes = gen.sample(gt_box, keypoints_k3, n=4, rng=np.random.default_rng(0))  # (4, 4) xyxy
"""
from .atomic_poses import AtomicPoses
from .errors import PGPGError
from .fit import fit_pgpg
from .gmm import GaussianMixture
from .kmeans import KMeansResult, kmeans, masked_sq_distances
from .matching import apply_offsets, box_iou, box_offsets, match_boxes
from .normalize import COCO_HIPS, COCO_SHOULDERS, NormalizedPoses, PoseNormalization, normalize_poses
from .offsets import OffsetModel
from .proposals import (
    ALPHAPOSE_OFFSET_MEAN,
    ALPHAPOSE_OFFSET_STD,
    ALPHAPOSE_SUBPATCH_PROBABILITY,
    GroundTruthProposals,
    JitterProposals,
    OffsetProposals,
    PGPGProposals,
    ProposalGenerator,
    SamplingSettings,
    enforce_min_size,
    random_subpatches,
)
from .registry import (
    available_proposal_generators,
    build_proposal_generator,
    load_proposal_generator,
    proposals_from_config,
    register_proposal_generator,
)
from .serialization import save_proposal_generator

__all__ = [
    "ALPHAPOSE_OFFSET_MEAN",
    "ALPHAPOSE_OFFSET_STD",
    "ALPHAPOSE_SUBPATCH_PROBABILITY",
    "AtomicPoses",
    "COCO_HIPS",
    "COCO_SHOULDERS",
    "GaussianMixture",
    "GroundTruthProposals",
    "JitterProposals",
    "KMeansResult",
    "NormalizedPoses",
    "OffsetModel",
    "OffsetProposals",
    "PGPGError",
    "PGPGProposals",
    "PoseNormalization",
    "ProposalGenerator",
    "SamplingSettings",
    "apply_offsets",
    "available_proposal_generators",
    "box_iou",
    "box_offsets",
    "build_proposal_generator",
    "enforce_min_size",
    "fit_pgpg",
    "kmeans",
    "load_proposal_generator",
    "masked_sq_distances",
    "match_boxes",
    "normalize_poses",
    "proposals_from_config",
    "random_subpatches",
    "register_proposal_generator",
    "save_proposal_generator",
]
