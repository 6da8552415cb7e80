"""Pose normalisation: hand-computed cases, a plain-loop reference, missing joints."""
import math

import numpy as np
import pytest

from pgpg import PGPGError, PoseNormalization, normalize_poses
from pgpg.normalize import METHOD_HIPS, METHOD_INVALID, METHOD_SHOULDERS, METHOD_TORSO, estimate_width_ratios
from pgpg.synthetic import POSE_TEMPLATES


def _pose(xy, visible=None):
    xy = np.asarray(xy, dtype=float)
    v = np.full(len(xy), 2.0) if visible is None else np.where(visible, 2.0, 0.0)
    return np.concatenate([np.where(v[:, None] > 0, xy, 0.0), v[:, None]], 1)


def _reference(kp, sh=(5, 6), hp=(11, 12), min_kp=3, sh_ratio=1.25, hp_ratio=2.0):
    """Plain-loop reference: returns (coords or None, centre, scale) per pose."""
    out = []
    for pose in kp:
        vis = [p[2] > 0 for p in pose]
        s = [pose[i][:2] for i in sh if vis[i]]
        h = [pose[i][:2] for i in hp if vis[i]]
        if sum(vis) < min_kp:
            out.append(None)
            continue
        if s and h:
            smid, hmid = np.mean(s, 0), np.mean(h, 0)
            sides = [math.dist(pose[a][:2], pose[b][:2]) for a, b in zip(sh, hp) if vis[a] and vis[b]]
            if len(s) == 2 and len(h) == 2 or not sides:
                scale = math.dist(smid, hmid)
            else:
                scale = sum(sides) / len(sides)
            centre = (smid + hmid) / 2
        elif len(s) == 2:
            scale = sh_ratio * math.dist(s[0], s[1])
            centre = np.mean(s, 0) + [0, scale / 2]
        elif len(h) == 2:
            scale = hp_ratio * math.dist(h[0], h[1])
            centre = np.mean(h, 0) - [0, scale / 2]
        else:
            out.append(None)
            continue
        if scale <= 1e-6:
            out.append(None)
            continue
        coords = [((p[0] - centre[0]) / scale, (p[1] - centre[1]) / scale) if vis[j] else (0.0, 0.0) for j, p in enumerate(pose)]
        out.append((np.array(coords), centre, scale))
    return out


def test_hand_computed_torso():
    # shoulders at (10, 20), (30, 20); hips at (12, 60), (28, 60): shoulder mid (20, 20), hip mid (20, 60)
    xy = np.zeros((17, 2))
    xy[5], xy[6], xy[11], xy[12] = (10, 20), (30, 20), (12, 60), (28, 60)
    xy[0] = (20, 0)
    vis = np.zeros(17, bool)
    vis[[0, 5, 6, 11, 12]] = True
    n = normalize_poses(_pose(xy, vis))
    assert n.valid[0] and n.method[0] == METHOD_TORSO
    np.testing.assert_allclose(n.centres[0], [20, 40])
    np.testing.assert_allclose(n.scales[0], 40)
    np.testing.assert_allclose(n.coords[0, 0], [0.0, -1.0])  # nose 40 px above the centre
    np.testing.assert_allclose(n.coords[0, 5], [-0.25, -0.5])
    assert not n.visible[0, 1] and np.all(n.coords[0, 1] == 0)


def test_single_shoulder_and_hip_suffice():
    xy = np.zeros((17, 2))
    xy[5], xy[11] = (100, 50), (100, 150)
    vis = np.zeros(17, bool)
    vis[[5, 11, 13]] = True
    xy[13] = (100, 250)
    n = normalize_poses(_pose(xy, vis))
    assert n.method[0] == METHOD_TORSO
    np.testing.assert_allclose([n.scales[0], *n.centres[0]], [100, 100, 100])
    np.testing.assert_allclose(n.coords[0, 13], [0, 1.5])


def test_fallback_rules_and_invalid():
    base = POSE_TEMPLATES["standing"] * 50 + 200
    no_hips = np.ones(17, bool)
    no_hips[[11, 12]] = False
    no_sh = np.ones(17, bool)
    no_sh[[5, 6]] = False
    no_torso = np.ones(17, bool)
    no_torso[[5, 6, 11, 12]] = False
    few = np.zeros(17, bool)
    few[[5, 11]] = True
    kp = np.stack([_pose(base, m) for m in (no_hips, no_sh, no_torso, few)])
    n = normalize_poses(kp)
    assert n.method.tolist() == [METHOD_SHOULDERS, METHOD_HIPS, METHOD_INVALID, METHOD_INVALID]
    # template: shoulder width 0.8 -> scale 1.25 * 0.8 * 50 = 50; hip width 0.5 -> 2.0 * 0.5 * 50 = 50
    np.testing.assert_allclose(n.scales[:2], [50, 50])
    np.testing.assert_allclose(n.centres[:2], [[200, 200], [200, 200]])
    assert np.isnan(n.scales[2:]).all() and not n.visible[2:].any() and np.all(n.coords[2:] == 0)


def test_matches_plain_loop_reference_on_random_poses():
    rng = np.random.default_rng(3)
    xy = POSE_TEMPLATES["arms_up"][None] * rng.uniform(20, 90, (300, 1, 1)) + rng.uniform(0, 500, (300, 1, 2))
    xy = xy + rng.normal(0, 3, xy.shape)
    vis = rng.random((300, 17)) > 0.35
    kp = np.concatenate([np.where(vis[..., None], xy, 0), 2.0 * vis[..., None]], -1)
    n = normalize_poses(kp)
    ref = _reference(kp)
    assert n.valid.tolist() == [r is not None for r in ref]
    for i, r in enumerate(ref):
        if r is not None:
            np.testing.assert_allclose(n.coords[i], r[0], atol=1e-12)
            np.testing.assert_allclose(n.centres[i], r[1], atol=1e-9)
            np.testing.assert_allclose(n.scales[i], r[2], atol=1e-9)
    assert 0 < n.valid.sum() < 300


def test_other_settings_match_plain_loop_reference():
    """A PoseNormalization other than COCO's: indices, minimum joints, ratios and the
    visibility threshold all reach the computation."""
    rng = np.random.default_rng(5)
    xy = POSE_TEMPLATES["standing"][None] * rng.uniform(20, 90, (200, 1, 1)) + rng.uniform(0, 500, (200, 1, 2))
    v = rng.choice([0.0, 1.0, 2.0], size=(200, 17), p=[0.3, 0.2, 0.5])
    kp = np.concatenate([xy, v[..., None]], -1)
    spec = PoseNormalization(shoulders=(11, 12), hips=(5, 6), visibility_threshold=1.0, min_keypoints=8,
                             shoulder_ratio=1.5, hip_ratio=2.5)
    n = normalize_poses(kp, spec)
    only_visible = np.where((v > 1.0)[..., None], kp, 0.0)  # v = 1 is below the threshold
    ref = _reference(only_visible, sh=(11, 12), hp=(5, 6), min_kp=8, sh_ratio=1.5, hp_ratio=2.5)
    assert n.valid.tolist() == [r is not None for r in ref]
    for i, r in enumerate(ref):
        if r is not None:
            np.testing.assert_allclose(n.coords[i], r[0], atol=1e-12)
            np.testing.assert_allclose(n.scales[i], r[2], atol=1e-9)
    assert 0 < n.valid.sum() < 200
    with pytest.raises(PGPGError, match="pose normalisation"):
        PoseNormalization(shoulders=("left", "right"))


def test_scale_and_translation_invariance():
    kp = _pose(POSE_TEMPLATES["crouching"] * 37 + [11, 222])
    kp2 = _pose(POSE_TEMPLATES["crouching"] * 91 + [400, 5])
    a, b = normalize_poses(kp), normalize_poses(kp2)
    np.testing.assert_allclose(a.coords, b.coords, atol=1e-12)
    np.testing.assert_allclose(a.coords[0], POSE_TEMPLATES["crouching"], atol=1e-12)


def test_bad_inputs_name_the_problem():
    with pytest.raises(PGPGError, match=r"\(N, K, 3\)"):
        normalize_poses(np.zeros((4, 17, 2)))
    with pytest.raises(PGPGError, match="shoulder indices"):
        normalize_poses(np.zeros((1, 5, 3)))
    with pytest.raises(PGPGError, match="hip indices"):
        normalize_poses(np.zeros((1, 17, 3)), PoseNormalization(hips=(11, 40)))


def test_width_ratios_follow_the_data():
    rng = np.random.default_rng(0)
    xy = POSE_TEMPLATES["standing"][None] * rng.uniform(30, 60, (50, 1, 1))
    kp = np.concatenate([xy, np.full((50, 17, 1), 2.0)], -1)
    sh, hp = estimate_width_ratios(kp)
    assert sh == pytest.approx(1 / 0.8) and hp == pytest.approx(1 / 0.5)
    assert estimate_width_ratios(kp[:3]) == (1.25, 2.0)  # too few poses: defaults


def test_incomplete_torso_uses_same_side_length():
    xy = np.zeros((17, 2))
    xy[5], xy[6], xy[11], xy[12] = (60, 0), (0, 0), (45, 80), (15, 80)
    xy[0] = (30, -30)
    three = np.zeros(17, bool)
    three[[0, 5, 6, 11]] = True  # both shoulders, left hip: torso = |left shoulder - left hip| = 81.394
    diagonal = np.zeros(17, bool)
    diagonal[[0, 5, 12]] = True  # left shoulder, right hip only: midpoint distance |(60,0)-(15,80)|
    n = normalize_poses(np.stack([_pose(xy, three), _pose(xy, diagonal)]))
    np.testing.assert_allclose(n.scales, [np.hypot(15, 80), np.hypot(45, 80)])
    np.testing.assert_allclose(n.centres, [[(30 + 45) / 2, 40], [(60 + 15) / 2, 40]])
