"""fit_pgpg: planted pose-dependent offsets are recovered; degenerate inputs give clear errors."""
import numpy as np
import pytest

from pgpg import PGPGError, SamplingSettings
from pgpg.synthetic import make_planted_people

from .planted import MEANS, STDS, atom_of_family, fit_planted


def test_fit_recovers_planted_offsets(planted, fitted):
    gen, d = fitted, planted
    atom = atom_of_family(gen, d)
    assert gen.fit_info["matched"] == (d["det_person"] >= 0).sum()
    for f, a in atom.items():
        mix = gen.offsets.mixture(a)
        assert not gen.offsets.fallback[a]
        np.testing.assert_allclose(mix.mean(), MEANS[f], atol=0.02)
        np.testing.assert_allclose(mix.std(), STDS[f], rtol=0.2)
    # the global mixture is the pooled distribution, far from any one family
    g = gen.offsets.mixture(-1)
    np.testing.assert_allclose(g.mean(), MEANS.mean(0), atol=0.02)


def test_degenerate_no_matches():
    d = make_planted_people(20, MEANS[:2], STDS[:2], seed=1)
    far = dict(d, det_boxes=d["det_boxes"] + 5000.0)
    with pytest.raises(PGPGError, match=r"no detection matched a ground-truth box with IoU >= 0.5"):
        fit_planted(far, k=2)
    other = dict(d, det_image_ids=d["det_image_ids"] + 10_000)
    with pytest.raises(PGPGError, match="no detection lies on an annotated image"):
        fit_planted(other, k=2)
    with pytest.raises(PGPGError, match="only 3 matched detections"):
        few = dict(d, det_boxes=d["det_boxes"][:3], det_image_ids=d["det_image_ids"][:3], det_scores=None)
        fit_planted(few, k=2)
    with pytest.raises(PGPGError, match=rf"all {len(d['det_boxes'])} detections score below min_score=2.0 \(best 0.9"):
        fit_planted(d, k=2, min_score=2.0)
    with pytest.raises(PGPGError, match="no detections to fit PGPG on"):
        fit_planted(dict(d, det_boxes=np.zeros((0, 4)), det_image_ids=np.zeros(0), det_scores=None), k=2)


def test_degenerate_single_atom_and_fallback():
    d = make_planted_people(60, MEANS[:2], STDS[:2], seed=2)
    one = fit_planted(d, k=1, min_samples=10, settings=SamplingSettings(subpatch_probability=0.0))
    assert one.atoms.num_atoms == 1 and not one.offsets.fallback[0]
    np.testing.assert_allclose(one.offsets.mixture(0).mean(), MEANS[:2].mean(0), atol=0.02)
    # atoms with fewer matches than min_samples use the global mixture
    fb = fit_planted(d, k=2, min_samples=1000)
    assert fb.offsets.fallback.all()
    rows = fb.summary()
    assert [r["atom"] for r in rows] == [0, 1, "global"] and all(r["fallback"] for r in rows[:2])
    np.testing.assert_allclose(rows[0]["mean"], rows[2]["mean"])
    gt, kp = d["gt_boxes"][0], d["keypoints"][0]
    # a fallback atom samples exactly like a pose without atom
    np.testing.assert_array_equal(fb.sample(gt, kp, 20, np.random.default_rng(0)), fb.sample(gt, None, 20, np.random.default_rng(0)))


def test_degenerate_missing_joints():
    d = make_planted_people(100, MEANS[:2], STDS[:2], seed=3, missing_prob=0.3)
    # a quarter of the people lose every torso joint: no atom, but their detections still feed the global model
    kp = d["keypoints"].copy()
    kp[::4, [5, 6, 11, 12]] = 0
    gen = fit_planted(dict(d, keypoints=kp), k=2)
    assert gen.fit_info["poses_without_atom"] >= 50
    assert gen.fit_info["matched_without_atom"] >= 50
    assert gen.offsets.n_samples[-1] == gen.fit_info["matched"]
    boxes = gen.sample(d["gt_boxes"][0], kp[0], 5, np.random.default_rng(0))  # pose without torso
    assert np.isfinite(boxes).all()
    with pytest.raises(PGPGError, match="none of the 200 poses can be normalised"):
        fit_planted(dict(d, keypoints=np.zeros_like(kp)), k=2)
    with pytest.raises(PGPGError, match=r"gt_box must be 4 numbers x1, y1, x2, y2, got shape \(3,\)"):
        gen.sample([1, 2, 3], None, 2)
    with pytest.raises(PGPGError, match="fitted on 17"):
        gen.sample(d["gt_boxes"][0], np.zeros((5, 3)), 2)
