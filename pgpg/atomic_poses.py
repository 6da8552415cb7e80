"""Atomic poses: k-means clusters of torso-normalised poses (RMPE's PGPG, step 1).

A new pose is assigned to the atom whose centre is nearest in torso units, measured over
the pose's visible joints only (:func:`pgpg.kmeans.masked_sq_distances`). Poses that
cannot be normalised (:func:`pgpg.normalize.normalize_poses`) get atom -1.
"""
from __future__ import annotations

from typing import Dict, Sequence, Tuple

import numpy as np

from .errors import PGPGError
from .kmeans import _distances, kmeans
from .normalize import (
    COCO_HIPS,
    COCO_SHOULDERS,
    DEFAULT_HIP_RATIO,
    DEFAULT_SHOULDER_RATIO,
    check_keypoints,
    estimate_width_ratios,
    normalize_poses,
)


class AtomicPoses:
    """Cluster centres of normalised poses and the settings that normalised them.

    Args:
        centres: (A, K, 2) atom centres in torso units (x right, y down, origin at the torso
            centre, unit = torso length).
        shoulders: (left, right) shoulder indices (COCO 5, 6).
        hips: (left, right) hip indices (COCO 11, 12).
        visibility_threshold: a joint is visible when v > this.
        min_keypoints: poses with fewer visible joints get atom -1.
        shoulder_ratio: torso length / shoulder width (fallback without hips).
        hip_ratio: torso length / hip width (fallback without shoulders).
        counts: (A,) number of fitting poses per atom (0 when unknown).
    """

    def __init__(
        self,
        centres: np.ndarray,
        *,
        shoulders: Sequence[int] = COCO_SHOULDERS,
        hips: Sequence[int] = COCO_HIPS,
        visibility_threshold: float = 0.0,
        min_keypoints: int = 3,
        shoulder_ratio: float = DEFAULT_SHOULDER_RATIO,
        hip_ratio: float = DEFAULT_HIP_RATIO,
        counts: np.ndarray | None = None,
    ) -> None:
        centres = np.asarray(centres, dtype=np.float64)
        if centres.ndim != 3 or centres.shape[-1] != 2 or centres.shape[0] < 1:
            raise PGPGError(f"atomic pose centres must have shape (A, K, 2) with A >= 1, got {centres.shape}")
        if not np.isfinite(centres).all():
            raise PGPGError("atomic pose centres contain non-finite values")
        self.centres = centres
        self.shoulders = tuple(int(i) for i in shoulders)
        self.hips = tuple(int(i) for i in hips)
        self.visibility_threshold = float(visibility_threshold)
        self.min_keypoints = int(min_keypoints)
        self.shoulder_ratio = float(shoulder_ratio)
        self.hip_ratio = float(hip_ratio)
        self.counts = (
            np.zeros(len(centres), dtype=np.int64) if counts is None else np.asarray(counts, dtype=np.int64).reshape(-1)
        )
        if self.counts.shape[0] != len(centres):
            raise PGPGError(f"atomic pose counts have {self.counts.shape[0]} entries for {len(centres)} atoms")
        # validates the indices against K
        normalize_poses(np.zeros((0, self.num_keypoints, 3)), **self._norm_kwargs())

    @property
    def num_atoms(self) -> int:
        """A, the number of atomic poses."""
        return int(self.centres.shape[0])

    @property
    def num_keypoints(self) -> int:
        """K, the number of keypoints per pose."""
        return int(self.centres.shape[1])

    def _norm_kwargs(self) -> Dict:
        return dict(
            shoulders=self.shoulders,
            hips=self.hips,
            visibility_threshold=self.visibility_threshold,
            min_keypoints=self.min_keypoints,
            shoulder_ratio=self.shoulder_ratio,
            hip_ratio=self.hip_ratio,
        )

    @classmethod
    def fit(
        cls,
        keypoints: np.ndarray,
        k: int = 8,
        *,
        seed: int = 0,
        n_init: int = 4,
        max_iter: int = 100,
        shoulders: Sequence[int] = COCO_SHOULDERS,
        hips: Sequence[int] = COCO_HIPS,
        visibility_threshold: float = 0.0,
        min_keypoints: int = 3,
    ) -> Tuple["AtomicPoses", np.ndarray]:
        """Cluster poses into ``k`` atomic poses with k-means++ (deterministic by ``seed``).

        Atoms are numbered by decreasing size (ties: the k-means order).

        Args:
            keypoints: (N, K, 3) (x, y, v) in image pixels.
            k: number of atomic poses.
            seed, n_init, max_iter: k-means settings (:func:`pgpg.kmeans.kmeans`).
            shoulders, hips, visibility_threshold, min_keypoints: normalisation settings.

        Returns:
            (atoms, labels): the fitted model and (N,) int64 atom per input pose (-1 where
            the pose could not be normalised).

        Raises:
            PGPGError: no pose can be normalised, or fewer usable poses than ``k``.
        """
        kp = check_keypoints(keypoints)
        if kp.shape[0] == 0:
            raise PGPGError("no poses to cluster into atomic poses; the annotations hold no keypoints")
        sh_ratio, hp_ratio = estimate_width_ratios(
            kp, shoulders=shoulders, hips=hips, visibility_threshold=visibility_threshold
        )
        norm = normalize_poses(
            kp,
            shoulders=shoulders,
            hips=hips,
            visibility_threshold=visibility_threshold,
            min_keypoints=min_keypoints,
            shoulder_ratio=sh_ratio,
            hip_ratio=hp_ratio,
        )
        n_valid = int(norm.valid.sum())
        if n_valid == 0:
            raise PGPGError(
                f"none of the {kp.shape[0]} poses can be normalised: each needs a visible shoulder and hip "
                f"(or both shoulders, or both hips) and at least {min_keypoints} visible joints"
            )
        if n_valid < k:
            raise PGPGError(
                f"only {n_valid} of {kp.shape[0]} poses can be normalised, fewer than k={k} atomic poses; lower k"
            )
        x = norm.coords[norm.valid].reshape(n_valid, -1)
        mask = np.repeat(norm.visible[norm.valid], 2, axis=1)
        try:
            result = kmeans(x, k, mask=mask, seed=seed, n_init=n_init, max_iter=max_iter)
        except PGPGError as exc:
            raise PGPGError(f"clustering {n_valid} poses into k={k} atomic poses failed: {exc}") from None
        sizes = np.bincount(result.labels, minlength=k)
        order = np.argsort(-sizes, kind="stable")
        rank = np.empty(k, dtype=np.int64)
        rank[order] = np.arange(k)
        labels = np.full(kp.shape[0], -1, dtype=np.int64)
        labels[norm.valid] = rank[result.labels]
        atoms = cls(
            result.centres[order].reshape(k, kp.shape[1], 2),
            shoulders=shoulders,
            hips=hips,
            visibility_threshold=visibility_threshold,
            min_keypoints=min_keypoints,
            shoulder_ratio=sh_ratio,
            hip_ratio=hp_ratio,
            counts=sizes[order],
        )
        return atoms, labels

    def assign(self, keypoints: np.ndarray) -> np.ndarray:
        """Atom of each pose: the nearest centre over its visible joints, -1 if not normalisable.

        Args:
            keypoints: (N, K, 3) or (K, 3) (x, y, v) in image pixels.

        Returns:
            (N,) int64 atom indices in [-1, A).
        """
        kp = check_keypoints(keypoints)
        if kp.shape[1] != self.num_keypoints:
            raise PGPGError(
                f"poses have {kp.shape[1]} keypoints but the atomic poses were fitted on {self.num_keypoints}"
            )
        norm = normalize_poses(kp, **self._norm_kwargs())
        labels = np.full(kp.shape[0], -1, dtype=np.int64)
        if norm.valid.any():
            x = norm.coords[norm.valid].reshape(int(norm.valid.sum()), -1)
            mask = np.repeat(norm.visible[norm.valid], 2, axis=1).astype(np.float64)
            scale = mask.shape[1] / mask.sum(1)  # valid poses have visible joints
            d = _distances(x, mask, scale, self.centres.reshape(self.num_atoms, -1))
            labels[norm.valid] = d.argmin(1)
        return labels

    def state(self) -> Dict[str, np.ndarray]:
        """Numeric arrays that :meth:`from_state` turns back into an equal object."""
        return {
            "centres": self.centres,
            "shoulders": np.asarray(self.shoulders, dtype=np.int64),
            "hips": np.asarray(self.hips, dtype=np.int64),
            "visibility_threshold": np.float64(self.visibility_threshold),
            "min_keypoints": np.int64(self.min_keypoints),
            "shoulder_ratio": np.float64(self.shoulder_ratio),
            "hip_ratio": np.float64(self.hip_ratio),
            "counts": self.counts,
        }

    @classmethod
    def from_state(cls, state: Dict[str, np.ndarray]) -> "AtomicPoses":
        """Inverse of :meth:`state`."""
        return cls(
            np.asarray(state["centres"], dtype=np.float64),
            shoulders=np.asarray(state["shoulders"]).tolist(),
            hips=np.asarray(state["hips"]).tolist(),
            visibility_threshold=float(state["visibility_threshold"]),
            min_keypoints=int(state["min_keypoints"]),
            shoulder_ratio=float(state["shoulder_ratio"]),
            hip_ratio=float(state["hip_ratio"]),
            counts=np.asarray(state["counts"]),
        )
