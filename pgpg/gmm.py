"""Gaussian mixtures with full covariances, fitted by EM in numpy (deterministic by seed).

EM as in any textbook: responsibilities from the current weights, means and covariances
(E-step), then weighted maximum-likelihood updates (M-step), until the mean log-likelihood
changes by less than ``tol``. Each covariance gets ``reg_covar`` added to its diagonal so
that it stays positive definite when a component sits on few or identical points. The
start is a k-means++ clustering (:func:`pgpg.kmeans.kmeans`) turned into hard
responsibilities. Everything is vectorised over points and components.
"""
from __future__ import annotations

from typing import Dict, Optional, Tuple

import numpy as np

from .errors import PGPGError
from .kmeans import kmeans

_LOG_2PI = float(np.log(2.0 * np.pi))


def cholesky(covariances: np.ndarray) -> np.ndarray:
    """Lower Cholesky factors of (..., D, D) covariances; :class:`PGPGError` if one is not positive definite."""
    try:
        return np.linalg.cholesky(covariances)
    except np.linalg.LinAlgError:
        raise PGPGError("a mixture covariance is not positive definite; raise the covariance regularisation") from None


def component_log_pdf(x: np.ndarray, means: np.ndarray, chols: np.ndarray) -> np.ndarray:
    """Log density of every point under every Gaussian component.

    Args:
        x: (N, D) points.
        means: (C, D) component means.
        chols: (C, D, D) lower Cholesky factors of the covariances.

    Returns:
        (N, C) float64 log densities.
    """
    d = x.shape[1]
    diff = x[None, :, :] - means[:, None, :]  # (C, N, D)
    inv = np.linalg.inv(chols)  # (C, D, D), small
    y = np.matmul(diff, inv.transpose(0, 2, 1))  # (C, N, D): L^-1 (x - mu) per point
    log_det = np.log(np.diagonal(chols, axis1=1, axis2=2)).sum(1)  # half log |Sigma|
    return (-0.5 * (d * _LOG_2PI + (y**2).sum(-1)) - log_det[:, None]).T


def _logsumexp(a: np.ndarray) -> np.ndarray:
    top = a.max(1, keepdims=True)
    return (top + np.log(np.exp(a - top).sum(1, keepdims=True)))[:, 0]


def _weighted_log_prob(x, weights, means, chols) -> np.ndarray:
    with np.errstate(divide="ignore"):
        log_w = np.log(weights)
    return component_log_pdf(x, means, chols) + log_w[None, :]


def _m_step(x: np.ndarray, resp: np.ndarray, reg_covar: float) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    n, d = x.shape
    nk = resp.sum(0) + 10.0 * np.finfo(np.float64).eps
    weights = nk / n
    means = resp.T @ x / nk[:, None]
    diff = x[None, :, :] - means[:, None, :]
    cov = np.matmul((resp.T[:, :, None] * diff).transpose(0, 2, 1), diff) / nk[:, None, None]
    cov = cov + reg_covar * np.eye(d)[None]
    return weights / weights.sum(), means, cov


class GaussianMixture:
    """A mixture of full-covariance Gaussians.

    Args:
        weights: (C,) non-negative component weights summing to 1.
        means: (C, D) component means.
        covariances: (C, D, D) symmetric positive-definite covariances.

    Attributes (set by :meth:`fit`): ``log_likelihood`` (mean per point), ``n_iter``,
    ``converged``.
    """

    def __init__(self, weights: np.ndarray, means: np.ndarray, covariances: np.ndarray) -> None:
        self.weights = np.asarray(weights, dtype=np.float64).reshape(-1)
        self.means = np.asarray(means, dtype=np.float64)
        self.covariances = np.asarray(covariances, dtype=np.float64)
        c = self.weights.shape[0]
        if self.means.ndim != 2 or self.means.shape[0] != c:
            raise PGPGError(f"mixture means must have shape (C={c}, D), got {self.means.shape}")
        d = self.means.shape[1]
        if self.covariances.shape != (c, d, d):
            raise PGPGError(f"mixture covariances must have shape {(c, d, d)}, got {self.covariances.shape}")
        if not (np.isfinite(self.weights).all() and np.isfinite(self.means).all() and np.isfinite(self.covariances).all()):
            raise PGPGError("mixture parameters contain non-finite values")
        if np.any(self.weights < 0) or not abs(self.weights.sum() - 1.0) < 1e-6:
            raise PGPGError("mixture weights must be non-negative and sum to 1")
        self.chols = cholesky(self.covariances)
        self.log_likelihood = float("nan")
        self.n_iter = 0
        self.converged = False

    @property
    def n_components(self) -> int:
        return int(self.weights.shape[0])

    @classmethod
    def fit(
        cls,
        x: np.ndarray,
        n_components: int = 2,
        *,
        reg_covar: float = 1e-5,
        max_iter: int = 200,
        tol: float = 1e-6,
        seed: int = 0,
        n_init: int = 1,
    ) -> "GaussianMixture":
        """Fit by EM; of ``n_init`` k-means++ starts the one with the highest likelihood is kept.

        When the data hold fewer distinct points than ``n_components``, as many components
        as distinct points are fitted.

        Args:
            x: (N, D) samples, N >= 1.
            n_components: C, number of Gaussians.
            reg_covar: added to every covariance diagonal (>= 0; > 0 keeps it invertible).
            max_iter: EM iterations at most.
            tol: stop when the mean log-likelihood changes by less than this.
            seed: seeds the k-means++ starts.
            n_init: number of starts.

        Returns:
            The fitted :class:`GaussianMixture`.
        """
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[0] < 1:
            raise PGPGError(f"a Gaussian mixture needs samples of shape (N >= 1, D), got {x.shape}")
        if not np.isfinite(x).all():
            raise PGPGError("Gaussian mixture samples contain non-finite values")
        if n_components < 1 or reg_covar < 0 or max_iter < 1 or n_init < 1:
            raise PGPGError(
                f"bad mixture settings: n_components={n_components}, reg_covar={reg_covar}, "
                f"max_iter={max_iter}, n_init={n_init}"
            )
        c = int(min(n_components, len(np.unique(x, axis=0))))
        rng = np.random.default_rng(seed)
        best: Optional[Tuple[float, np.ndarray, np.ndarray, np.ndarray, int, bool]] = None
        for _ in range(n_init):
            labels = kmeans(x, c, seed=int(rng.integers(2**31)), n_init=1).labels
            resp = np.zeros((x.shape[0], c))
            resp[np.arange(x.shape[0]), labels] = 1.0
            weights, means, cov = _m_step(x, resp, reg_covar)
            prev, converged, it = -np.inf, False, 0
            for it in range(1, max_iter + 1):
                log_prob = _weighted_log_prob(x, weights, means, cholesky(cov))
                log_norm = _logsumexp(log_prob)
                ll = float(log_norm.mean())
                weights, means, cov = _m_step(x, np.exp(log_prob - log_norm[:, None]), reg_covar)
                if abs(ll - prev) < tol:
                    converged = True
                    break
                prev = ll
            final = float(_logsumexp(_weighted_log_prob(x, weights, means, cholesky(cov))).mean())
            if best is None or final > best[0]:
                best = (final, weights, means, cov, it, converged)
        final, weights, means, cov, it, converged = best
        model = cls(weights, means, cov)
        model.log_likelihood, model.n_iter, model.converged = final, it, converged
        return model

    def log_prob(self, x: np.ndarray) -> np.ndarray:
        """Log density of the mixture at (N, D) points -> (N,)."""
        x = np.asarray(x, dtype=np.float64)
        return _logsumexp(_weighted_log_prob(x, self.weights, self.means, self.chols))

    def mean(self) -> np.ndarray:
        """(D,) mean of the mixture."""
        return self.weights @ self.means

    def covariance(self) -> np.ndarray:
        """(D, D) covariance of the mixture (within- plus between-component)."""
        mu = self.mean()
        diff = self.means - mu
        return np.einsum("c,cij->ij", self.weights, self.covariances) + np.einsum("c,ci,cj->ij", self.weights, diff, diff)

    def std(self) -> np.ndarray:
        """(D,) per-dimension standard deviation of the mixture."""
        return np.sqrt(np.diag(self.covariance()))

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Draw ``n`` points -> (n, D)."""
        return sample_mixtures(self.weights[None], self.means[None], self.chols[None], np.zeros(n, dtype=np.int64), rng)

    def state(self) -> Dict[str, np.ndarray]:
        return {"weights": self.weights, "means": self.means, "covariances": self.covariances}


def sample_mixtures(
    weights: np.ndarray, means: np.ndarray, chols: np.ndarray, rows: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Draw one point from each of several stacked mixtures, vectorised.

    Consumes ``rng.random(n)`` (component choice) then ``rng.standard_normal((n, D))``.

    Args:
        weights: (R, C) component weights per mixture (zero weights are never drawn).
        means: (R, C, D) component means.
        chols: (R, C, D, D) lower Cholesky factors of the covariances.
        rows: (n,) which mixture each draw comes from.
        rng: numpy Generator.

    Returns:
        (n, D) float64 samples.
    """
    rows = np.asarray(rows, dtype=np.int64)
    n, d = rows.shape[0], means.shape[-1]
    cum = np.cumsum(weights, axis=1)
    cum = cum / cum[:, -1:]  # the last positive-weight component reaches exactly 1
    u = rng.random(n)
    comp = (u[:, None] >= cum[rows]).sum(1)
    z = rng.standard_normal((n, d))
    return means[rows, comp] + np.einsum("nij,nj->ni", chols[rows, comp], z)
