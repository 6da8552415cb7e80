"""Atomic poses: k-means clusters of torso-normalised poses (RMPE's PGPG, step 1).

A new pose is assigned to the atom whose centre is nearest in torso units, measured over
the pose's visible joints only (:func:`pgpg.kmeans.masked_sq_distances`). Poses that
cannot be normalised (:func:`pgpg.normalize.normalize_poses`) get atom -1.
"""
from __future__ import annotations

import dataclasses
from typing import Dict, Optional, Tuple

import numpy as np

from .errors import PGPGError
from .kmeans import _distances, kmeans
from .normalize import PoseNormalization, check_keypoints, estimate_width_ratios, normalize_poses


class AtomicPoses:
    """Cluster centres of normalised poses and the settings that normalised them.

    Args:
        centres: (A, K, 2) atom centres in torso units (x right, y down, origin at the torso
            centre, unit = torso length).
        normalization: how poses are normalised (joint indices, visibility threshold,
            minimum joints, width ratios); default :class:`~pgpg.normalize.PoseNormalization`.
            Poses it cannot normalise get atom -1.
        counts: (A,) number of fitting poses per atom (0 when unknown).
    """

    def __init__(
        self,
        centres: np.ndarray,
        *,
        normalization: Optional[PoseNormalization] = None,
        counts: np.ndarray | None = None,
    ) -> None:
        centres = np.asarray(centres, dtype=np.float64)
        if centres.ndim != 3 or centres.shape[-1] != 2 or centres.shape[0] < 1:
            raise PGPGError(f"atomic pose centres must have shape (A, K, 2) with A >= 1, got {centres.shape}")
        if not np.isfinite(centres).all():
            raise PGPGError("atomic pose centres contain non-finite values")
        self.centres = centres
        self.normalization = PoseNormalization() if normalization is None else normalization
        self.counts = (
            np.zeros(len(centres), dtype=np.int64) if counts is None else np.asarray(counts, dtype=np.int64).reshape(-1)
        )
        if self.counts.shape[0] != len(centres):
            raise PGPGError(f"atomic pose counts have {self.counts.shape[0]} entries for {len(centres)} atoms")
        # validates the indices against K
        normalize_poses(np.zeros((0, self.num_keypoints, 3)), self.normalization)

    @property
    def num_atoms(self) -> int:
        """A, the number of atomic poses."""
        return int(self.centres.shape[0])

    @property
    def num_keypoints(self) -> int:
        """K, the number of keypoints per pose."""
        return int(self.centres.shape[1])

    @classmethod
    def fit(
        cls,
        keypoints: np.ndarray,
        k: int = 8,
        *,
        seed: int = 0,
        n_init: int = 4,
        max_iter: int = 100,
        normalization: Optional[PoseNormalization] = None,
    ) -> Tuple["AtomicPoses", np.ndarray]:
        """Cluster poses into ``k`` atomic poses with k-means++ (deterministic by ``seed``).

        Atoms are numbered by decreasing size (ties: the k-means order).

        Args:
            keypoints: (N, K, 3) (x, y, v) in image pixels.
            k: number of atomic poses.
            seed, n_init, max_iter: k-means settings (:func:`pgpg.kmeans.kmeans`).
            normalization: joint indices, visibility threshold and minimum joints; its width
                ratios are replaced by those estimated from ``keypoints``
                (:func:`~pgpg.normalize.estimate_width_ratios`).

        Returns:
            (atoms, labels): the fitted model and (N,) int64 atom per input pose (-1 where
            the pose could not be normalised).

        Raises:
            PGPGError: no pose can be normalised, or fewer usable poses than ``k``.
        """
        kp = check_keypoints(keypoints)
        if kp.shape[0] == 0:
            raise PGPGError("no poses to cluster into atomic poses; the annotations hold no keypoints")
        spec = PoseNormalization() if normalization is None else normalization
        sh_ratio, hp_ratio = estimate_width_ratios(kp, spec)
        spec = dataclasses.replace(spec, shoulder_ratio=sh_ratio, hip_ratio=hp_ratio)
        norm = normalize_poses(kp, spec)
        n_valid = int(norm.valid.sum())
        if n_valid == 0:
            raise PGPGError(
                f"none of the {kp.shape[0]} poses can be normalised: each needs a visible shoulder and hip "
                f"(or both shoulders, or both hips) and at least {spec.min_keypoints} visible joints"
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
        atoms = cls(result.centres[order].reshape(k, kp.shape[1], 2), normalization=spec, counts=sizes[order])
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
        norm = normalize_poses(kp, self.normalization)
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
        spec = self.normalization
        return {
            "centres": self.centres,
            "shoulders": np.asarray(spec.shoulders, dtype=np.int64),
            "hips": np.asarray(spec.hips, dtype=np.int64),
            "visibility_threshold": np.float64(spec.visibility_threshold),
            "min_keypoints": np.int64(spec.min_keypoints),
            "shoulder_ratio": np.float64(spec.shoulder_ratio),
            "hip_ratio": np.float64(spec.hip_ratio),
            "counts": self.counts,
        }

    @classmethod
    def from_state(cls, state: Dict[str, np.ndarray]) -> "AtomicPoses":
        """Inverse of :meth:`state`."""
        normalization = PoseNormalization(
            shoulders=np.asarray(state["shoulders"]).tolist(),
            hips=np.asarray(state["hips"]).tolist(),
            visibility_threshold=float(state["visibility_threshold"]),
            min_keypoints=int(state["min_keypoints"]),
            shoulder_ratio=float(state["shoulder_ratio"]),
            hip_ratio=float(state["hip_ratio"]),
        )
        return cls(np.asarray(state["centres"], dtype=np.float64), normalization=normalization, counts=np.asarray(state["counts"]))
