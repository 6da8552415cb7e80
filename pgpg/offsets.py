"""Per-atom Gaussian mixtures of detection offsets (RMPE's PGPG, step 2).

An offset is the 4-vector (dx1 / w, dy1 / h, dx2 / w, dy2 / h) of a detection relative
to its matched ground-truth box (:func:`pgpg.matching.box_offsets`). Each atomic pose gets
its own mixture; a global mixture fitted on all offsets stands in for atoms with fewer than
``min_samples`` offsets (marked ``fallback``) and for poses without an atom (atom -1).

Storage: the A atom mixtures and the global one are stacked as rows 0..A-1 and A of
``weights (A+1, C)``, ``means (A+1, C, 4)``, ``covariances (A+1, C, 4, 4)``; a row fitted with
fewer than C components has zero weights (mean 0, identity covariance) in the rest.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence

import numpy as np

from .errors import PGPGError
from .gmm import GaussianMixture, cholesky, sample_mixtures

#: Offsets needed per mixture component (fewer samples -> fewer components).
SAMPLES_PER_COMPONENT = 10
#: The global model needs at least this many offsets (a 4-D covariance needs 5 points).
MIN_GLOBAL_SAMPLES = 5


class OffsetModel:
    """Stacked offset mixtures: one per atomic pose plus a global one (last row).

    Args:
        weights: (A+1, C) component weights per row, each row summing to 1.
        means: (A+1, C, 4) component means (normalised offsets).
        covariances: (A+1, C, 4, 4) component covariances.
        fallback: (A,) bool, the atom uses the global mixture (too few samples).
        n_samples: (A+1,) offsets each row was fitted on (global: all of them).
    """

    def __init__(
        self,
        weights: np.ndarray,
        means: np.ndarray,
        covariances: np.ndarray,
        fallback: Optional[np.ndarray] = None,
        n_samples: Optional[np.ndarray] = None,
    ) -> None:
        self.weights = np.asarray(weights, dtype=np.float64)
        self.means = np.asarray(means, dtype=np.float64)
        self.covariances = np.asarray(covariances, dtype=np.float64)
        if self.weights.ndim != 2 or self.weights.shape[0] < 1:
            raise PGPGError(f"offset model weights must have shape (A+1, C), got {self.weights.shape}")
        r, c = self.weights.shape
        if self.means.shape != (r, c, 4) or self.covariances.shape != (r, c, 4, 4):
            raise PGPGError(
                f"offset model arrays disagree: weights {self.weights.shape}, means {self.means.shape}, "
                f"covariances {self.covariances.shape}; expected means {(r, c, 4)}, covariances {(r, c, 4, 4)}"
            )
        if not (np.isfinite(self.weights).all() and np.isfinite(self.means).all() and np.isfinite(self.covariances).all()):
            raise PGPGError("offset model parameters contain non-finite values")
        if np.any(self.weights < 0) or np.any(np.abs(self.weights.sum(1) - 1.0) > 1e-6):
            raise PGPGError("offset model weights must be non-negative and sum to 1 per atom")
        self.chols = cholesky(self.covariances)
        a = r - 1
        self.fallback = np.zeros(a, dtype=bool) if fallback is None else np.asarray(fallback, dtype=bool).reshape(-1)
        self.n_samples = np.zeros(r, dtype=np.int64) if n_samples is None else np.asarray(n_samples, dtype=np.int64).reshape(-1)
        if self.fallback.shape[0] != a or self.n_samples.shape[0] != r:
            raise PGPGError(
                f"offset model has {a} atoms but {self.fallback.shape[0]} fallback flags and "
                f"{self.n_samples.shape[0]} sample counts (expected {r})"
            )

    @property
    def num_atoms(self) -> int:
        """A, the number of atomic poses (the global row not counted)."""
        return int(self.weights.shape[0] - 1)

    @classmethod
    def single_gaussian(cls, mean: Sequence[float], std: Sequence[float]) -> "OffsetModel":
        """A model with no atoms and one diagonal Gaussian as its global row.

        Args:
            mean: (4,) offset means.
            std: (4,) offset standard deviations (> 0).
        """
        mean = np.asarray(mean, dtype=np.float64).reshape(4)
        std = np.asarray(std, dtype=np.float64).reshape(4)
        if np.any(std <= 0):
            raise PGPGError(f"offset standard deviations must be positive, got {std.tolist()}")
        return cls(np.ones((1, 1)), mean[None, None], np.diag(std**2)[None, None])

    @classmethod
    def fit(
        cls,
        offsets: np.ndarray,
        atoms: np.ndarray,
        num_atoms: int,
        *,
        n_components: int = 2,
        reg_covar: float = 1e-5,
        min_samples: int = 30,
        seed: int = 0,
        max_iter: int = 200,
        tol: float = 1e-6,
    ) -> "OffsetModel":
        """Fit one mixture per atom and a global one.

        Each mixture uses ``min(n_components, max(1, n // 10))`` components for its n offsets.

        Args:
            offsets: (M, 4) normalised offsets of matched detections.
            atoms: (M,) atom of each offset's ground-truth pose, -1 for none.
            num_atoms: A.
            n_components: C, components per mixture at most.
            reg_covar: added to covariance diagonals.
            min_samples: atoms with fewer offsets use the global mixture.
            seed: EM seed (atom a uses ``seed + a``, the global mixture ``seed + A``).
            max_iter, tol: EM settings.

        Raises:
            PGPGError: no or too few offsets, bad shapes or settings.
        """
        offsets = np.asarray(offsets, dtype=np.float64)
        atoms = np.asarray(atoms, dtype=np.int64).reshape(-1)
        if offsets.ndim != 2 or offsets.shape[1] != 4 or offsets.shape[0] != atoms.shape[0]:
            raise PGPGError(f"offsets (M, 4) and atoms (M,) must pair up, got {offsets.shape} and {atoms.shape}")
        if num_atoms < 0 or np.any(atoms < -1) or np.any(atoms >= num_atoms):
            raise PGPGError(f"atom indices must lie in [-1, {num_atoms}), got {atoms.min(initial=0)}..{atoms.max(initial=0)}")
        if n_components < 1 or min_samples < 1:
            raise PGPGError(f"need n_components >= 1 and min_samples >= 1, got {n_components} and {min_samples}")
        m = offsets.shape[0]
        if m == 0:
            raise PGPGError("no matched detections: the offset model has nothing to fit")
        if m < MIN_GLOBAL_SAMPLES:
            raise PGPGError(
                f"only {m} matched detections; at least {MIN_GLOBAL_SAMPLES} are needed to fit the global offset mixture"
            )
        counts = np.bincount(atoms[atoms >= 0], minlength=num_atoms)
        fallback = counts < min_samples
        mixtures: List[GaussianMixture] = []
        settings = dict(reg_covar=reg_covar, max_iter=max_iter, tol=tol)

        def components(n: int) -> int:
            return int(min(n_components, max(1, n // SAMPLES_PER_COMPONENT)))

        global_mix = GaussianMixture.fit(offsets, components(m), seed=seed + num_atoms, **settings)
        for a in range(num_atoms):  # loop over atoms (a handful), not over people
            if fallback[a]:
                mixtures.append(global_mix)
            else:
                x = offsets[atoms == a]
                mixtures.append(GaussianMixture.fit(x, components(len(x)), seed=seed + a, **settings))
        mixtures.append(global_mix)
        c = n_components
        weights = np.zeros((num_atoms + 1, c))
        means = np.zeros((num_atoms + 1, c, 4))
        covs = np.tile(np.eye(4), (num_atoms + 1, c, 1, 1))
        for r, mix in enumerate(mixtures):
            k = mix.n_components
            weights[r, :k], means[r, :k], covs[r, :k] = mix.weights, mix.means, mix.covariances
        n_samples = np.append(counts, m)
        return cls(weights, means, covs, fallback=fallback, n_samples=n_samples)

    def rows(self, atoms: np.ndarray) -> np.ndarray:
        """Mixture row of each atom index: the atom's own row, or the global row for -1."""
        atoms = np.asarray(atoms, dtype=np.int64)
        if np.any(atoms >= self.num_atoms) or np.any(atoms < -1):
            raise PGPGError(f"atom indices must lie in [-1, {self.num_atoms}), got {atoms.min()}..{atoms.max()}")
        return np.where(atoms < 0, self.num_atoms, atoms)

    def mixture(self, atom: int) -> GaussianMixture:
        """The mixture used for ``atom`` (-1: global) with its zero-weight padding removed."""
        r = int(self.rows(np.asarray([atom]))[0])
        keep = self.weights[r] > 0
        w = self.weights[r, keep]
        return GaussianMixture(w / w.sum(), self.means[r, keep], self.covariances[r, keep])

    def sample(self, atoms: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One offset per entry of ``atoms`` (n,) -> (n, 4), drawn from that atom's mixture."""
        return sample_mixtures(self.weights, self.means, self.chols, self.rows(atoms), rng)

    def state(self) -> Dict[str, np.ndarray]:
        return {
            "weights": self.weights,
            "means": self.means,
            "covariances": self.covariances,
            "fallback": self.fallback,
            "n_samples": self.n_samples,
        }

    @classmethod
    def from_state(cls, state: Dict[str, np.ndarray]) -> "OffsetModel":
        return cls(
            np.asarray(state["weights"]),
            np.asarray(state["means"]),
            np.asarray(state["covariances"]),
            fallback=np.asarray(state["fallback"]),
            n_samples=np.asarray(state["n_samples"]),
        )
