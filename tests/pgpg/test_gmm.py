"""Gaussian mixture EM against plain-loop formulas and planted mixtures."""
import math

import numpy as np
import pytest

from pgpg import GaussianMixture, PGPGError
from pgpg.gmm import component_log_pdf


def _ref_log_pdf(x, mean, cov):
    """Multivariate normal log density by cofactor-free plain formulas (Gauss-Jordan inverse)."""
    d = len(mean)
    a = [list(map(float, row)) + [1.0 if i == j else 0.0 for j in range(d)] for i, row in enumerate(cov)]
    det = 1.0
    for c in range(d):
        p = max(range(c, d), key=lambda r: abs(a[r][c]))
        if p != c:
            a[c], a[p] = a[p], a[c]
            det = -det
        det *= a[c][c]
        piv = a[c][c]
        a[c] = [v / piv for v in a[c]]
        for r in range(d):
            if r != c:
                f = a[r][c]
                a[r] = [v - f * w for v, w in zip(a[r], a[c])]
    inv = [row[d:] for row in a]
    diff = [x[i] - mean[i] for i in range(d)]
    maha = sum(diff[i] * inv[i][j] * diff[j] for i in range(d) for j in range(d))
    return -0.5 * (d * math.log(2 * math.pi) + math.log(det) + maha)


def _ref_em_step(x, w, mu, cov, reg):
    """One EM iteration with plain loops."""
    n, d = x.shape
    c = len(w)
    resp = np.zeros((n, c))
    for i in range(n):
        logs = [math.log(w[k]) + _ref_log_pdf(x[i], mu[k], cov[k]) for k in range(c)]
        top = max(logs)
        tot = sum(math.exp(v - top) for v in logs)
        for k in range(c):
            resp[i, k] = math.exp(logs[k] - top) / tot
    nw, nmu, ncov = np.zeros(c), np.zeros((c, d)), np.zeros((c, d, d))
    for k in range(c):
        nk = sum(resp[i, k] for i in range(n))
        nw[k] = nk / n
        for i in range(n):
            nmu[k] += resp[i, k] * x[i] / nk
        for i in range(n):
            diff = x[i] - nmu[k]
            ncov[k] += resp[i, k] * np.outer(diff, diff) / nk
        ncov[k] += reg * np.eye(d)
    return nw, nmu, ncov


def _random_spd(rng, d, scale):
    a = rng.normal(size=(d, d)) * scale
    return a @ a.T + np.eye(d) * scale**2 * 0.5


def _planted(seed=0, n=4000):
    rng = np.random.default_rng(seed)
    w = np.array([0.3, 0.7])
    mu = np.array([[0.2, -0.1, 0.05, 0.3], [-0.1, 0.1, -0.2, 0.0]])
    cov = np.stack([_random_spd(rng, 4, 0.04), _random_spd(rng, 4, 0.03)])
    comp = rng.random(n) < w[0]
    x = np.where(comp[:, None], rng.multivariate_normal(mu[0], cov[0], n), rng.multivariate_normal(mu[1], cov[1], n))
    return x, w, mu, cov


def test_log_pdf_matches_reference():
    rng = np.random.default_rng(0)
    mu = rng.normal(size=(3, 4))
    cov = np.stack([_random_spd(rng, 4, 0.5) for _ in range(3)])
    x = rng.normal(size=(6, 4))
    ours = component_log_pdf(x, mu, np.linalg.cholesky(cov))
    ref = [[_ref_log_pdf(x[i], mu[k], cov[k]) for k in range(3)] for i in range(6)]
    np.testing.assert_allclose(ours, ref, rtol=1e-10)
    gm = GaussianMixture(np.array([0.2, 0.5, 0.3]), mu, cov)
    ref_mix = [math.log(sum(w * math.exp(v) for w, v in zip([0.2, 0.5, 0.3], row))) for row in ref]
    np.testing.assert_allclose(gm.log_prob(x), ref_mix, rtol=1e-10)


def test_fit_is_em_fixed_point():
    x, *_ = _planted(n=300)
    gm = GaussianMixture.fit(x, 2, reg_covar=1e-4, tol=1e-13, max_iter=2000, seed=1)
    assert gm.converged
    w, mu, cov = _ref_em_step(x, gm.weights, gm.means, gm.covariances, 1e-4)
    np.testing.assert_allclose(w, gm.weights, atol=1e-5)
    np.testing.assert_allclose(mu, gm.means, atol=1e-5)
    np.testing.assert_allclose(cov, gm.covariances, atol=1e-5)


def test_recovers_planted_mixture_and_is_deterministic():
    x, w, mu, cov = _planted()
    gm = GaussianMixture.fit(x, 2, seed=3)
    order = np.argsort(gm.weights)
    np.testing.assert_allclose(gm.weights[order], w, atol=0.03)
    np.testing.assert_allclose(gm.means[order], mu, atol=0.015)
    np.testing.assert_allclose(gm.covariances[order], cov, atol=0.1 * np.abs(cov).max())
    again = GaussianMixture.fit(x, 2, seed=3)
    np.testing.assert_array_equal(again.means, gm.means)
    np.testing.assert_array_equal(again.covariances, gm.covariances)
    more = GaussianMixture.fit(x, 2, seed=3, n_init=3)
    assert more.log_likelihood >= gm.log_likelihood - 1e-9


def test_mixture_moments_and_sampling():
    _, w, mu, cov = _planted()
    gm = GaussianMixture(w, mu, cov)
    ref_mean = w[0] * mu[0] + w[1] * mu[1]
    ref_cov = sum(w[k] * (cov[k] + np.outer(mu[k] - ref_mean, mu[k] - ref_mean)) for k in range(2))
    np.testing.assert_allclose(gm.mean(), ref_mean, atol=1e-14)
    np.testing.assert_allclose(gm.covariance(), ref_cov, atol=1e-14)
    s = gm.sample(200_000, np.random.default_rng(0))
    np.testing.assert_allclose(s.mean(0), ref_mean, atol=3e-3)
    np.testing.assert_allclose(np.cov(s.T), ref_cov, atol=3e-3)
    np.testing.assert_array_equal(gm.sample(5, np.random.default_rng(4)), gm.sample(5, np.random.default_rng(4)))


def test_zero_weight_components_never_drawn():
    gm = GaussianMixture(np.array([0.0, 1.0, 0.0]), np.array([[100.0] * 4, [0.0] * 4, [-100.0] * 4]), np.tile(np.eye(4), (3, 1, 1)))
    assert np.abs(gm.sample(20_000, np.random.default_rng(1))).max() < 10


def test_degenerate_data():
    same = np.tile([0.1, 0.2, 0.3, 0.4], (20, 1))
    gm = GaussianMixture.fit(same, 3, reg_covar=1e-4)
    assert gm.n_components == 1  # only one distinct point
    np.testing.assert_allclose(gm.means[0], same[0])
    np.testing.assert_allclose(gm.covariances[0], 1e-4 * np.eye(4), atol=1e-15)
    with pytest.raises(PGPGError, match="not positive definite"):
        GaussianMixture.fit(same, 1, reg_covar=0.0)
    with pytest.raises(PGPGError, match="shape"):
        GaussianMixture.fit(np.zeros((0, 4)), 1)
    with pytest.raises(PGPGError, match="sum to 1"):
        GaussianMixture(np.array([0.5, 0.2]), np.zeros((2, 4)), np.tile(np.eye(4), (2, 1, 1)))
