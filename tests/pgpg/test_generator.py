"""ProposalGenerator: planted pose-dependent offsets, sampling, baselines, save/load, registry."""
import pickle

import numpy as np
import pytest

from pgpg import (
    ALPHAPOSE_OFFSET_MEAN,
    ALPHAPOSE_OFFSET_STD,
    OffsetModel,
    PGPGError,
    ProposalGenerator,
    available_proposal_generators,
    box_offsets,
    build_proposal_generator,
)
from pgpg.synthetic import POSE_TEMPLATES, make_planted_people

FAMILIES = ("standing", "arms_up", "crouching")
MEANS = np.array([[-0.05, -0.03, 0.06, 0.04], [0.06, 0.04, -0.05, -0.02], [0.0, -0.06, 0.02, 0.08]])
STDS = np.array([[0.04, 0.03, 0.05, 0.03], [0.07, 0.05, 0.06, 0.04], [0.03, 0.06, 0.04, 0.05]])


@pytest.fixture(scope="module")
def planted():
    return make_planted_people(500, MEANS, STDS, families=FAMILIES, seed=11, detection_rate=0.9)


@pytest.fixture(scope="module")
def fitted(planted):
    d = planted
    return ProposalGenerator.fit(
        d["gt_boxes"], d["keypoints"], d["image_ids"], d["det_boxes"], d["det_image_ids"], d["det_scores"],
        k=3, n_components=2, seed=0, subpatch_probability=0.0,
    )


def _atom_of_family(gen, d):
    labels = gen.atoms.assign(d["keypoints"])
    out = {}
    for f in range(len(FAMILIES)):
        counts = np.bincount(labels[(d["family"] == f) & (labels >= 0)], minlength=gen.atoms.num_atoms)
        assert counts.max() > 0.97 * counts.sum()  # the atom is (almost) pure
        out[f] = int(counts.argmax())
    assert len(set(out.values())) == len(FAMILIES)
    return out


def test_fit_recovers_planted_offsets(planted, fitted):
    gen, d = fitted, planted
    atom = _atom_of_family(gen, d)
    assert gen.fit_info["matched"] == (d["det_person"] >= 0).sum()
    for f, a in atom.items():
        mix = gen.offsets.mixture(a)
        assert not gen.offsets.fallback[a]
        np.testing.assert_allclose(mix.mean(), MEANS[f], atol=0.02)
        np.testing.assert_allclose(mix.std(), STDS[f], rtol=0.2)
    # the global mixture is the pooled distribution, far from any one family
    g = gen.offsets.mixture(-1)
    np.testing.assert_allclose(g.mean(), MEANS.mean(0), atol=0.02)


def test_samples_reproduce_planted_offsets(planted, fitted):
    gen, d = fitted, planted
    rng = np.random.default_rng(0)
    for f, name in enumerate(FAMILIES):
        xy = POSE_TEMPLATES[name] * 60 + [300, 200]
        kp = np.concatenate([xy, np.full((17, 1), 2.0)], 1)
        gt = np.array([250.0, 80.0, 350.0, 380.0])
        boxes = gen.sample(gt, kp, 20_000, rng)
        assert boxes.shape == (20_000, 4) and boxes.dtype == np.float32
        off = box_offsets(np.tile(gt, (len(boxes), 1)), boxes.astype(np.float64))
        np.testing.assert_allclose(off.mean(0), MEANS[f], atol=0.02)
        np.testing.assert_allclose(off.std(0), STDS[f], rtol=0.2)


def test_batch_sampling_uses_each_persons_atom(planted, fitted):
    d = planted
    full = (d["keypoints"][..., 2] > 0).all(1)
    idx = np.concatenate([np.flatnonzero((d["family"] == f) & full)[:3] for f in range(3)])
    boxes = fitted.sample_batch(d["gt_boxes"][idx], d["keypoints"][idx], 4000, np.random.default_rng(1))
    assert boxes.shape == (9, 4000, 4)
    for j, i in enumerate(idx):
        off = box_offsets(np.tile(d["gt_boxes"][i], (4000, 1)), boxes[j].astype(np.float64))
        np.testing.assert_allclose(off.mean(0), MEANS[d["family"][i]], atol=0.02)


def test_same_seed_same_samples_and_save_load_round_trip(fitted, planted, tmp_path):
    gt, kp = planted["gt_boxes"][0], planted["keypoints"][0]
    a = fitted.sample(gt, kp, 50, np.random.default_rng(5))
    np.testing.assert_array_equal(a, fitted.sample(gt, kp, 50, np.random.default_rng(5)))
    assert not np.array_equal(a, fitted.sample(gt, kp, 50, np.random.default_rng(6)))
    for name in ("m.npz", "m.json"):
        path = tmp_path / "sub" / name
        fitted.save(path)
        loaded = ProposalGenerator.load(path)
        np.testing.assert_array_equal(loaded.sample(gt, kp, 50, np.random.default_rng(5)), a)
        np.testing.assert_array_equal(loaded.atoms.centres, fitted.atoms.centres)
        np.testing.assert_array_equal(loaded.offsets.covariances, fitted.offsets.covariances)
        assert loaded.format_summary() == fitted.format_summary()
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == ["m.json", "m.npz"]  # no temp files left
    with np.load(tmp_path / "sub" / "m.npz", allow_pickle=False) as z:
        assert all(z[k].dtype != object for k in z.files)
    # picklable for DataLoader workers
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(fitted)).sample(gt, kp, 50, np.random.default_rng(5)), a)


def _inside(boxes, gt, eps=1e-4):
    return (boxes[:, :2] >= gt[:2] - eps).all(1) & (boxes[:, 2:] <= gt[2:] + eps).all(1)


def test_jitter_baseline_constants_and_subpatches():
    gt = np.array([100.0, 50.0, 200.0, 350.0])
    w, h = 100.0, 300.0
    # without sub-patches the offsets are exactly AlphaPose's Gaussians
    plain = build_proposal_generator("jitter", subpatch_probability=0.0)
    b = plain.sample(gt, None, 100_000, np.random.default_rng(1)).astype(np.float64)
    off = box_offsets(np.tile(gt, (len(b), 1)), b)
    np.testing.assert_allclose(off.mean(0), ALPHAPOSE_OFFSET_MEAN, atol=2e-3)
    np.testing.assert_allclose(off.std(0), ALPHAPOSE_OFFSET_STD, rtol=0.02)
    p_in = _inside(b, gt).mean()  # a Gaussian proposal inside the GT box: ~6 %
    # the default jitter mixes in 15 % sub-patches, which always lie inside
    gen = build_proposal_generator("jitter")
    assert gen.subpatch_probability == 0.15
    mixed = gen.sample(gt, None, 40_000, np.random.default_rng(0)).astype(np.float64)
    assert abs(_inside(mixed, gt).mean() - (0.15 + 0.85 * p_in)) < 0.01
    # sub-patches only: inside the GT box, each side between half and all of the GT side
    sub = build_proposal_generator("jitter", subpatch_probability=1.0)
    s = sub.sample(gt, None, 20_000, np.random.default_rng(2)).astype(np.float64)
    assert _inside(s, gt).all()
    fw, fh = (s[:, 2] - s[:, 0]) / w, (s[:, 3] - s[:, 1]) / h
    assert fw.min() >= 0.5 - 1e-5 and fh.min() >= 0.5 - 1e-5 and fw.max() <= 1 + 1e-5 and fh.max() <= 1 + 1e-5
    assert abs(fw.mean() - 0.75) < 0.01 and abs(fh.mean() - 0.75) < 0.01
    # placement is uniform: the left margin is uniform on [0, (1 - fw) w]
    rel = (s[:, 0] - gt[0]) / ((1 - fw) * w)
    assert abs(rel.mean() - 0.5) < 0.01


def test_gt_mode_probability_and_min_size():
    gt = np.array([10.0, 20.0, 60.0, 120.0])
    g = build_proposal_generator("gt", probability=0.3)
    np.testing.assert_array_equal(g.sample(gt, None, 3, np.random.default_rng(0)), np.tile(gt, (3, 1)).astype(np.float32))
    half = build_proposal_generator("jitter", probability=0.4, subpatch_probability=0.0)
    b = half.sample(gt, None, 20_000, np.random.default_rng(0))
    is_gt = np.all(b == gt.astype(np.float32), axis=1)
    assert abs(is_gt.mean() - 0.6) < 0.015
    # offsets that would invert the box are re-centred at the minimum size
    wild = ProposalGenerator(mode="jitter", offsets=OffsetModel.single_gaussian([0.6, 0.6, -0.6, -0.6], [1e-3] * 4),
                             subpatch_probability=0.0, min_side=0.05)
    w = wild.sample(gt, None, 10, np.random.default_rng(0)).astype(np.float64)
    np.testing.assert_allclose(w[:, 2] - w[:, 0], 0.05 * 50, rtol=1e-5)
    np.testing.assert_allclose(w[:, 3] - w[:, 1], 0.05 * 100, rtol=1e-5)
    np.testing.assert_allclose((w[:, 0] + w[:, 2]) / 2, 35, atol=0.5)


def test_registry_and_config(tmp_path, fitted):
    assert available_proposal_generators() == ["gt", "jitter", "pgpg"]
    path = tmp_path / "p.npz"
    fitted.save(path)
    g = build_proposal_generator("pgpg", str(path), probability=0.7)
    assert g.mode == "pgpg" and g.probability == 0.7 and g.subpatch_probability == 0.0
    g = ProposalGenerator.from_config({"type": "pgpg", "model": str(path), "probability": 0.5})
    assert g.probability == 0.5

    class Section:  # like rmpe's train.proposals dataclass
        type, model, probability = "jitter", None, 1.0

    assert ProposalGenerator.from_config(Section()).mode == "jitter"
    with pytest.raises(PGPGError, match="unknown proposal type 'box'; choose one of gt, jitter, pgpg"):
        build_proposal_generator("box")
    with pytest.raises(PGPGError, match="needs a model file"):
        build_proposal_generator("pgpg")
    with pytest.raises(PGPGError, match="probability must lie in"):
        build_proposal_generator("jitter", probability=1.5)
    build_proposal_generator("jitter").save(tmp_path / "j.json")
    with pytest.raises(PGPGError, match="holds a 'jitter' generator"):
        build_proposal_generator("pgpg", str(tmp_path / "j.json"))
    assert ProposalGenerator.load(tmp_path / "j.json").mode == "jitter"


def test_bad_model_files(tmp_path):
    with pytest.raises(PGPGError, match="not found"):
        ProposalGenerator.load(tmp_path / "none.npz")
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(PGPGError, match="not a readable .npz"):
        ProposalGenerator.load(tmp_path / "bad.npz")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(PGPGError, match="not valid JSON"):
        ProposalGenerator.load(tmp_path / "bad.json")
    (tmp_path / "other.json").write_text('{"format": "something"}')
    with pytest.raises(PGPGError, match="not a PGPG model file"):
        ProposalGenerator.load(tmp_path / "other.json")
    np.savez(tmp_path / "part.npz", format="rmpe-pgpg", version=1, mode="pgpg", probability=1.0)
    with pytest.raises(PGPGError, match="lacks the entry"):
        ProposalGenerator.load(tmp_path / "part.npz")
    with pytest.raises(PGPGError, match="must end in .npz or .json"):
        build_proposal_generator("jitter").save(tmp_path / "x.bin")


def _fit(d, **kw):
    return ProposalGenerator.fit(d["gt_boxes"], d["keypoints"], d["image_ids"], d["det_boxes"], d["det_image_ids"],
                                 d.get("det_scores"), **kw)


def test_degenerate_no_matches():
    d = make_planted_people(20, MEANS[:2], STDS[:2], seed=1)
    far = dict(d, det_boxes=d["det_boxes"] + 5000.0)
    with pytest.raises(PGPGError, match=r"no detection matched a ground-truth box with IoU >= 0.5"):
        _fit(far, k=2)
    other = dict(d, det_image_ids=d["det_image_ids"] + 10_000)
    with pytest.raises(PGPGError, match="no detection lies on an annotated image"):
        _fit(other, k=2)
    with pytest.raises(PGPGError, match="only 3 matched detections"):
        few = dict(d, det_boxes=d["det_boxes"][:3], det_image_ids=d["det_image_ids"][:3], det_scores=None)
        _fit(few, k=2)
    with pytest.raises(PGPGError, match=rf"all {len(d['det_boxes'])} detections score below min_score=2.0 \(best 0.9"):
        _fit(d, k=2, min_score=2.0)
    with pytest.raises(PGPGError, match="no detections to fit PGPG on"):
        _fit(dict(d, det_boxes=np.zeros((0, 4)), det_image_ids=np.zeros(0), det_scores=None), k=2)


def test_degenerate_single_atom_and_fallback():
    d = make_planted_people(60, MEANS[:2], STDS[:2], seed=2)
    one = _fit(d, k=1, min_samples=10, subpatch_probability=0.0)
    assert one.atoms.num_atoms == 1 and not one.offsets.fallback[0]
    np.testing.assert_allclose(one.offsets.mixture(0).mean(), MEANS[:2].mean(0), atol=0.02)
    # atoms with fewer matches than min_samples use the global mixture
    fb = _fit(d, k=2, min_samples=1000)
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
    gen = _fit(dict(d, keypoints=kp), k=2)
    assert gen.fit_info["poses_without_atom"] >= 50
    assert gen.fit_info["matched_without_atom"] >= 50
    assert gen.offsets.n_samples[-1] == gen.fit_info["matched"]
    boxes = gen.sample(d["gt_boxes"][0], kp[0], 5, np.random.default_rng(0))  # pose without torso
    assert np.isfinite(boxes).all()
    with pytest.raises(PGPGError, match="none of the 200 poses can be normalised"):
        _fit(dict(d, keypoints=np.zeros_like(kp)), k=2)
    with pytest.raises(PGPGError, match=r"gt_box must be 4 numbers x1, y1, x2, y2, got shape \(3,\)"):
        gen.sample([1, 2, 3], None, 2)
    with pytest.raises(PGPGError, match="fitted on 17"):
        gen.sample(d["gt_boxes"][0], np.zeros((5, 3)), 2)
