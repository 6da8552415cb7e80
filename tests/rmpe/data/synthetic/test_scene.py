"""The synthetic world in memory: kinematics, painting, masks, visibility, boxes."""
from __future__ import annotations

import numpy as np
import pytest

from rmpe.data.synthetic.body import HEAD, NECK, PELVIS, body_points, project, sample_shape
from rmpe.data.synthetic.config import POSE_FAMILIES, PoseFamilyWeights, SyntheticConfig
from rmpe.data.synthetic.pose import empty_pose, sample_pose
from rmpe.data.synthetic.render import sample_looks
from rmpe.data.synthetic.scene import render_people, render_scene

mask_utils = pytest.importorskip("pycocotools.mask")

# (parent, child, BodyShape field) for every bone of the stick figure.
BONES = [
    (5, 7, "upper_arm"), (6, 8, "upper_arm"), (7, 9, "forearm"), (8, 10, "forearm"),
    (11, 13, "thigh"), (12, 14, "thigh"), (13, 15, "shin"), (14, 16, "shin"),
    (PELVIS, NECK, "torso"), (NECK, HEAD, "neck"),
]


def test_bone_lengths_survive_every_pose_and_view():
    rng = np.random.default_rng(0)
    families = list(POSE_FAMILIES) * 20
    pose = sample_pose(rng, families)
    shape = sample_shape(rng, len(families))
    pts = body_points(pose, shape)
    xy, depth = project(pts, pose.yaw, pose.roll)
    cam = np.concatenate([xy, depth[..., None]], axis=-1)  # orthographic view is a rotation
    for a, b, name in BONES:
        want = getattr(shape, name)
        np.testing.assert_allclose(np.linalg.norm(pts[:, b] - pts[:, a], axis=1), want, rtol=1e-9)
        np.testing.assert_allclose(np.linalg.norm(cam[:, b] - cam[:, a], axis=1), want, rtol=1e-9)


def test_facing_camera_puts_the_left_side_on_the_image_right():
    shape = sample_shape(np.random.default_rng(1), 2)
    pose = empty_pose(2)
    pose.yaw[:] = [0.0, np.pi]  # facing the camera, seen from behind
    xy, depth = project(body_points(pose, shape), pose.yaw, pose.roll)
    for left, right in ((5, 6), (11, 12), (1, 2), (3, 4)):
        assert xy[0, left, 0] > xy[0, right, 0]
        assert xy[1, left, 0] < xy[1, right, 0]
    # Facing the camera the nose is nearer than the head centre; from behind it is farther.
    assert depth[0, 0] > depth[0, HEAD] and depth[1, 0] < depth[1, HEAD]
    # Neutral standing pose: head on top, ankles at the bottom, about one height tall.
    assert xy[0, HEAD, 1] < xy[0, NECK, 1] < 0 < xy[0, 15, 1]
    assert 0.85 < xy[0, 15, 1] - xy[0, HEAD, 1] < 1.0


def test_arms_raised_family_lifts_wrists_above_the_shoulders():
    rng = np.random.default_rng(2)
    pose = sample_pose(rng, ["arms_raised"] * 200 + ["standing"] * 200)
    shape = sample_shape(rng, 400)
    pts = body_points(pose, shape)  # v axis points down
    wrist_above = np.minimum(pts[:, 9, 1], pts[:, 10, 1]) < pts[:, 5, 1]
    assert wrist_above[:200].mean() > 0.95
    assert wrist_above[200:].mean() < 0.05


def _check_scene(scene, size):
    w, h = size
    masks = [p["mask"] for p in scene.people]
    # Final masks are disjoint and tile exactly the non-background pixels of the label map.
    if masks:
        stack = np.stack(masks)
        assert stack.sum(axis=0).max() <= 1
        np.testing.assert_array_equal(stack.any(axis=0), scene.owner >= 0)
    ranks = {p["index"]: p["depth_rank"] for p in scene.people}
    for p in scene.people:
        mask = p["mask"]
        rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
        assert p["area"] == int(mask_utils.area(rle)) == int(mask.sum())
        ref = mask_utils.toBbox(rle)  # pycocotools: pixel i spans [i, i + 1)
        np.testing.assert_allclose(p["bbox"], ref - np.array([0.5, 0.5, 0, 0]))
        for x, y, v in p["keypoints"]:
            px, py = int(np.floor(x + 0.5)), int(np.floor(y + 0.5))
            inside = 0 <= px < w and 0 <= py < h
            if v == 0:
                assert not inside
                continue
            assert inside
            if v == 2:
                assert mask[py, px]
            else:
                assert v == 1 and not mask[py, px]
                cover = [q for q in scene.people if q["mask"][py, px]]
                assert len(cover) == 1 and ranks[cover[0]["index"]] > p["depth_rank"]
        assert 0.0 <= p["occlusion"] <= 1.0
        assert p["pose_family"] in POSE_FAMILIES


@pytest.mark.parametrize("seed", range(12))
def test_keypoints_masks_and_boxes_agree(seed):
    cfg = SyntheticConfig(people=(2, 6), overlap_prob=0.8, small_prob=0.3)
    size = (256, 192)
    scene = render_scene(np.random.default_rng([seed, 7]), size, cfg, return_masks=True)
    assert scene.image.shape == (192, 256, 3) and scene.image.dtype == np.uint8
    _check_scene(scene, size)


def test_occlusion_and_truncation_both_happen():
    cfg = SyntheticConfig(people=(3, 5), overlap_prob=0.9)
    flags = np.zeros(3, int)
    for seed in range(15):
        scene = render_scene(np.random.default_rng([seed, 8]), (256, 192), cfg)
        for p in scene.people:
            flags += np.bincount(p["keypoints"][:, 2].astype(int), minlength=3)
    assert flags[0] > 0 and flags[1] > 0 and flags[2] > flags[1]


def test_small_scale_range_is_respected():
    cfg = SyntheticConfig(people=(1, 1), height_range=(40.0, 400.0), small_height=90.0, small_prob=0.5,
                          pose_families=PoseFamilyWeights(standing=1, walking=0, arms_raised=0, sitting=0,
                                                          bending=0, lying=0, partial=0))
    heights = [render_scene(np.random.default_rng([s, 9]), (640, 480), cfg).people[0]["height"] for s in range(40)]
    assert 40.0 <= min(heights) < 90.0 < max(heights) <= 400.0


def test_left_and_right_limbs_look_different():
    """The left trouser leg carries bands of a contrasting colour; the right one is plain."""
    rng = np.random.default_rng(3)
    pose = empty_pose(1)
    pose.yaw[:] = np.pi / 2  # profile: both legs visible side by side when walking
    pose.hip_flex[:] = [[0.5, -0.5]]
    shape = sample_shape(rng, 1)
    looks = sample_looks(rng, 1)
    image = np.zeros((300, 200, 3), np.uint8)
    people, _ = render_people(image, pose, shape, looks, np.array([260.0]), np.array([[100.0, 140.0]]))
    kp = people[0]["keypoints"]

    def band_fraction(hip, knee):
        ts = np.linspace(0.05, 0.95, 60)
        pts = kp[hip, :2] + ts[:, None] * (kp[knee, :2] - kp[hip, :2])
        cols = image[np.round(pts[:, 1]).astype(int), np.round(pts[:, 0]).astype(int)].astype(float)
        return np.mean(np.abs(cols - looks.pants_band[0]).max(axis=1) < 12)

    assert band_fraction(11, 13) > 0.1  # left thigh
    assert band_fraction(12, 14) == 0.0  # right thigh
