"""k-means++ with missing values and atomic poses."""
import numpy as np
import pytest

from pgpg import AtomicPoses, PGPGError, kmeans, masked_sq_distances
from pgpg.kmeans import _lloyd, _prepare
from pgpg.synthetic import POSE_TEMPLATES, make_planted_people


def _ref_dist(x, m, c):
    out = np.zeros((len(x), len(c)))
    for i in range(len(x)):
        for j in range(len(c)):
            obs = [d for d in range(x.shape[1]) if m[i, d]]
            out[i, j] = sum((x[i, d] - c[j, d]) ** 2 for d in obs) * x.shape[1] / len(obs)
    return out


def _ref_lloyd(x, m, centres, iters):
    """Plain loops: weighted masked Lloyd iterations (weights D / #observed)."""
    c = centres.copy()
    n, d = x.shape
    for _ in range(iters):
        dist = _ref_dist(x, m, c)
        labels = [int(np.argmin(row)) for row in dist]
        new = c.copy()
        for j in range(len(c)):
            for dim in range(d):
                num = den = 0.0
                for i in range(n):
                    if labels[i] == j and m[i, dim]:
                        w = d / m[i].sum()
                        num += w * x[i, dim]
                        den += w
                if den > 0:
                    new[j, dim] = num / den
        c = new
    return c


def _blobs(seed=0, n=60, k=4, d=6, spread=0.3):
    rng = np.random.default_rng(seed)
    centres = rng.uniform(-10, 10, (k, d))
    truth = np.repeat(np.arange(k), n)
    x = centres[truth] + spread * rng.standard_normal((k * n, d))
    return x, truth, centres


def _same_partition(a, b):
    pairs = set(zip(a.tolist(), b.tolist()))
    return len(pairs) == len(set(a.tolist())) == len(set(b.tolist()))


def test_masked_distance_matches_loops():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(12, 5))
    m = rng.random((12, 5)) > 0.3
    m[:, 0] = True
    c = rng.normal(size=(3, 5))
    np.testing.assert_allclose(masked_sq_distances(x, m, c), _ref_dist(x, m, c), rtol=1e-10, atol=1e-12)
    # nothing missing: plain squared Euclidean distance
    np.testing.assert_allclose(masked_sq_distances(x, None, c), ((x[:, None] - c[None]) ** 2).sum(-1), atol=1e-12)


def test_lloyd_matches_plain_loop_reference():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(30, 4)) + np.repeat([[0, 0, 0, 0], [4, 4, 0, 0]], 15, axis=0)
    m = rng.random((30, 4)) > 0.25
    m[:, 1] = True
    start = x[[0, 20]] + 0.1
    xs, ms, scale = _prepare(x, m)
    ours, _, _, _ = _lloyd(xs, ms, scale, start.copy(), max_iter=3, tol=-1.0)
    np.testing.assert_allclose(ours, _ref_lloyd(x, m, start, 3), atol=1e-10)


def test_recovers_planted_clusters_and_is_deterministic():
    x, truth, centres = _blobs()
    a = kmeans(x, 4, seed=7)
    b = kmeans(x, 4, seed=7)
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_array_equal(a.centres, b.centres)
    assert _same_partition(a.labels, truth)
    # each fitted centre lies on a planted one
    err = np.sqrt(((a.centres[:, None] - centres[None]) ** 2).sum(-1)).min(1)
    assert err.max() < 0.2
    c = kmeans(x, 4, seed=8)
    assert _same_partition(c.labels, truth)


def test_recovers_clusters_with_missing_values():
    x, truth, _ = _blobs(seed=4, d=8)
    rng = np.random.default_rng(0)
    m = rng.random(x.shape) > 0.3
    m[:, 0] = True
    garbage = np.where(m, x, 1e6)  # missing values must be ignored entirely
    r = kmeans(garbage, 4, mask=m, seed=0)
    assert _same_partition(r.labels, truth)


def test_inertia_not_worse_than_single_init():
    x, _, _ = _blobs(seed=5, k=6, spread=2.0)
    assert kmeans(x, 6, seed=0, n_init=6).inertia <= kmeans(x, 6, seed=0, n_init=1).inertia + 1e-9


def test_degenerate_inputs():
    x = np.zeros((5, 3))
    with pytest.raises(PGPGError, match="only 1 distinct points, fewer than k=2"):
        kmeans(x, 2)
    with pytest.raises(PGPGError, match="cannot form k=9"):
        kmeans(np.random.default_rng(0).normal(size=(4, 2)), 9)
    with pytest.raises(PGPGError, match="no observed values"):
        kmeans(np.ones((3, 2)), 1, mask=np.array([[1, 1], [0, 0], [1, 0]]))
    r = kmeans(np.ones((3, 2)), 1)  # k = 1 on identical points is fine
    np.testing.assert_allclose(r.centres, [[1, 1]])
    assert r.inertia == 0 and r.labels.tolist() == [0, 0, 0]


def _families(seed=0, n=150, missing=0.15):
    means = np.zeros((3, 4))
    d = make_planted_people(n, means, np.full((3, 4), 0.01), families=("standing", "arms_up", "crouching"),
                            seed=seed, missing_prob=missing)
    return d["keypoints"], d["family"]


def test_atomic_poses_find_pose_families():
    kp, fam = _families()
    atoms, labels = AtomicPoses.fit(kp, 3, seed=0)
    ok = labels >= 0
    assert ok.mean() > 0.97
    assert _same_partition(labels[ok], fam[ok])
    # atoms are numbered by size and counts add up
    assert np.all(np.diff(atoms.counts) <= 0) and atoms.counts.sum() == ok.sum()
    # centres lie on the templates (torso units)
    for a in range(3):
        f = np.bincount(fam[labels == a]).argmax()
        tmpl = POSE_TEMPLATES[("standing", "arms_up", "crouching")[f]]
        assert np.abs(atoms.centres[a] - tmpl).max() < 0.06
    # assigning the fitting poses again gives the fitted labels
    np.testing.assert_array_equal(atoms.assign(kp), labels)
    again, labels2 = AtomicPoses.fit(kp, 3, seed=0)
    np.testing.assert_array_equal(again.centres, atoms.centres)
    np.testing.assert_array_equal(labels2, labels)


def test_assignment_with_missing_joints_and_unusable_poses():
    kp, fam = _families(seed=1, missing=0.0)
    atoms, labels = AtomicPoses.fit(kp, 3, seed=0)
    # arms-up person with legs, face and one arm missing: still assigned by the remaining joints
    one = kp[fam == 1][0].copy()
    one[[0, 1, 2, 3, 4, 8, 10, 13, 14, 15, 16], :] = 0
    expected = labels[np.flatnonzero(fam == 1)[0]]
    assert atoms.assign(one)[0] == expected
    # upper body only (no hips): the shoulder rule still assigns it to the right family
    upper = kp[fam == 1][1].copy()
    upper[11:] = 0
    assert atoms.assign(upper)[0] == labels[np.flatnonzero(fam == 1)[1]]
    # no torso joints or no joints at all: atom -1
    empty = np.zeros((17, 3))
    legs = kp[0].copy()
    legs[:13] = 0
    np.testing.assert_array_equal(atoms.assign(np.stack([empty, legs])), [-1, -1])
    with pytest.raises(PGPGError, match="fitted on 17"):
        atoms.assign(np.zeros((2, 14, 3)))


def test_atomic_poses_degenerate_fits():
    with pytest.raises(PGPGError, match="none of the 4 poses can be normalised"):
        AtomicPoses.fit(np.zeros((4, 17, 3)), 2)
    kp, _ = _families(n=2)
    with pytest.raises(PGPGError, match="fewer than k=10"):
        AtomicPoses.fit(kp, 10)
    same = np.repeat(kp[:1], 5, axis=0)
    with pytest.raises(PGPGError, match="clustering 5 poses into k=2 atomic poses failed: .*distinct"):
        AtomicPoses.fit(same, 2)
    single, labels = AtomicPoses.fit(kp, 1)  # a single atom is fine
    assert single.num_atoms == 1 and set(labels.tolist()) <= {0, -1}
