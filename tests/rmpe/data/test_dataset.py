"""COCO keypoint data set, augmentation and sampler (rmpe.data.annotations, rmpe.data.dataset, rmpe.data.augment, rmpe.train.sampler).

References kept here: the crop matrix written out from DESIGN.md's crop rule, point
rotation/scale/flip written as plain formulas, and the image content itself (each joint is
drawn as a blob of a known colour, so the crop must show that colour where the mapped
keypoint lands).

``make_keypoint_dataset`` is also used by tests/rmpe/test_train.py and tests/rmpe/data/test_annotations.py.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from rmpe.data.augment import AugmentParams, Augmentation, half_body_box, photometric_jitter, warp_crop
from rmpe.data.annotations import load_coco_persons
from rmpe.data.dataset import COCOKeypointDataset
from rmpe.data.loader import collate_samples
from rmpe.errors import RMPEError
from rmpe.testing import reference_crop_box
from rmpe.geometry import crop_boxes, crop_matrices
from rmpe.keypoints import COCO, COCO_SKELETON, coco_category
from rmpe.train.sampler import EpochSampler

# a front-facing person in a 100 x 200 box (the person's left side is on the image right)
TEMPLATE = np.array(
    [
        [50, 18], [56, 12], [44, 12], [62, 16], [38, 16],  # nose, eyes, ears
        [72, 48], [28, 48], [84, 82], [16, 82], [92, 112], [8, 112],  # shoulders, elbows, wrists
        [64, 112], [36, 112], [66, 154], [34, 154], [68, 194], [32, 194],  # hips, knees, ankles
    ],
    dtype=np.float64,
)
# one colour per left/right pair (BGR), so a mirrored person looks like a person
PAIR_COLOURS = [
    (255, 255, 255), (0, 0, 255), (0, 0, 255), (0, 255, 0), (0, 255, 0),
    (255, 0, 0), (255, 0, 0), (0, 255, 255), (0, 255, 255), (255, 0, 255), (255, 0, 255),
    (255, 255, 0), (255, 255, 0), (0, 128, 255), (0, 128, 255), (128, 0, 255), (128, 0, 255),
]
IMAGE_HW = (192, 256)


def make_keypoint_dataset(
    folder: Path,
    num_images: int = 6,
    people_per_image: int = 1,
    seed: int = 0,
    extras: bool = False,
    blob: int = 3,
) -> tuple:
    """Write a small COCO keypoint data set of stick figures.

    Every joint is a filled disc of radius ``blob`` in its pair's colour on a dark noisy
    background; people vary in position, size and a little in pose. With ``extras`` the
    file also holds a crowd annotation, one without labelled keypoints and one with a
    degenerate box (none of which may become samples).

    Returns:
        (annotation path, image folder, list of (K,3) keypoint arrays of the real people).
    """
    rng = np.random.default_rng(seed)
    folder = Path(folder)
    img_dir = folder / "images"
    img_dir.mkdir(parents=True, exist_ok=True)
    images, anns, people = [], [], []
    h, w = IMAGE_HW
    ann_id = 1
    for i in range(num_images):
        image = rng.integers(0, 40, size=(h, w, 3), dtype=np.uint8)
        for _ in range(people_per_image):
            size = rng.uniform(0.55, 0.8) * h
            scale = size / 200.0
            x0 = rng.uniform(0, w - 100 * scale)
            y0 = rng.uniform(0, h - 200 * scale)
            pts = TEMPLATE * scale + np.array([x0, y0]) + rng.normal(0, 2.0 * scale, TEMPLATE.shape)
            for a, b in COCO_SKELETON:
                cv2.line(image, tuple(int(round(v)) for v in pts[a]), tuple(int(round(v)) for v in pts[b]),
                         (90, 90, 90), 2)
            for k, (x, y) in enumerate(pts):
                cv2.circle(image, (int(round(x)), int(round(y))), blob, PAIR_COLOURS[k], -1)
            vis = np.full(17, 2.0)
            vis[rng.random(17) < 0.1] = 0  # a few unlabelled joints
            kp = np.concatenate([pts, vis[:, None]], axis=1)
            kp[vis == 0, :2] = 0
            lab = pts[vis > 0]
            x1, y1 = lab.min(0) - 4
            x2, y2 = lab.max(0) + 4
            anns.append({
                "id": ann_id, "image_id": i + 1, "category_id": 1, "iscrowd": 0,
                "bbox": [float(x1), float(y1), float(x2 - x1), float(y2 - y1)],
                "area": float((x2 - x1) * (y2 - y1)), "num_keypoints": int((vis > 0).sum()),
                "keypoints": [float(v) for v in kp.reshape(-1)],
            })
            people.append(kp)
            ann_id += 1
        name = f"{i + 1:06d}.png"
        cv2.imwrite(str(img_dir / name), image)
        images.append({"id": i + 1, "file_name": name, "height": h, "width": w})
    if extras:
        base = dict(anns[0])
        anns.append(dict(base, id=ann_id, iscrowd=1))
        anns.append(dict(base, id=ann_id + 1, keypoints=[0.0] * 51, num_keypoints=0))
        anns.append(dict(base, id=ann_id + 2, bbox=[10.0, 10.0, 0.5, 40.0]))
    data = {"images": images, "annotations": anns, "categories": [coco_category()]}
    ann_path = folder / "annotations.json"
    ann_path.write_text(json.dumps(data))
    return ann_path, img_dir, people


def reference_crop_matrix(box, out_hw=(128, 96), aspect=0.75, enlarge=1.25):
    """DESIGN.md's crop rule written out by hand (no rotation, no flip)."""
    cx, cy, w, _ = reference_crop_box(box, aspect, enlarge)
    s = out_hw[1] / w
    return np.array([[s, 0, out_hw[1] / 2 - s * cx], [0, s, out_hw[0] / 2 - s * cy], [0, 0, 1]])


def sample_matrix(box, out_hw, aspect, enlarge, params):
    """One sample's (3,3) float64 image -> crop matrix from rmpe.geometry's batched crop_matrices."""
    f64 = torch.float64
    cb = crop_boxes(torch.tensor(np.asarray(box, dtype=np.float64).reshape(1, 4)), aspect, enlarge)
    m = crop_matrices(cb, tuple(out_hw), rotation=torch.tensor([float(params.rotation)], dtype=f64),
                      scale=torch.tensor([float(params.scale)], dtype=f64), flip=torch.tensor([bool(params.flip)]))
    return m[0].numpy()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny_coco")
    return make_keypoint_dataset(folder, num_images=5, people_per_image=2, extras=True)


def _dataset(tiny, **kw):
    ann, img_dir, _ = tiny
    persons = load_coco_persons(str(ann), str(img_dir), 17, check_images=True)
    kw.setdefault("input_size", (128, 96))
    return COCOKeypointDataset(persons, keypoint_set=COCO, **kw)


# ----------------------------------------------------------------------------- loading


def test_one_sample_per_person_and_skips(tiny):
    ann, img_dir, people = tiny
    persons = load_coco_persons(str(ann), str(img_dir), 17)
    assert len(persons) == len(people) == 10
    assert persons.skipped == {"crowd": 1, "no_keypoints": 1, "degenerate_box": 1}
    np.testing.assert_allclose(persons.keypoints, np.stack(people), atol=1e-3)
    data = json.loads(Path(ann).read_text())
    for j, a in enumerate(data["annotations"][:10]):
        x, y, w, h = a["bbox"]
        np.testing.assert_allclose(persons.boxes[j], [x, y, x + w, y + h], atol=1e-3)
        assert persons.image_ids[j] == a["image_id"] and persons.ann_ids[j] == a["id"]
        assert persons.image_path(j).endswith(f"{a['image_id']:06d}.png")


def test_box_clipped_and_missing_box_from_keypoints(tmp_path):
    ann, img_dir, _ = make_keypoint_dataset(tmp_path, num_images=1)
    data = json.loads(Path(ann).read_text())
    a = data["annotations"][0]
    kp = np.asarray(a["keypoints"]).reshape(17, 3)
    b = dict(a, id=99, bbox=[-20.0, -10.0, 400.0, 100.0])
    c = dict(a, id=100)
    del c["bbox"]
    data["annotations"] = [b, c]
    Path(ann).write_text(json.dumps(data))
    persons = load_coco_persons(str(ann), str(img_dir), 17)
    h, w = IMAGE_HW
    np.testing.assert_allclose(persons.boxes[0], [0, 0, w - 1, 90], atol=1e-4)
    lab = kp[kp[:, 2] > 0, :2]
    np.testing.assert_allclose(persons.boxes[1], [*lab.min(0), *lab.max(0)], atol=1e-3)


@pytest.mark.parametrize(
    "content, message",
    [
        ("[1, 2, 3]", "not a COCO annotation file"),
        ('{"images": [], "annotations": [{"id": 1, "bbox": [0, 0, 5, 5]}], '
         '"categories": [{"id": 1, "name": "car"}]}', "not a COCO keypoints file"),
        ('{"images": [{"id": 1, "file_name": "a.png"}], "annotations": [{"id": 1, "image_id": 1, "bbox": [0,0,5,5]}]}',
         "no annotation has 'keypoints'"),
        ('{"images": [{"id": 1, "file_name": "a.png"}], '
         '"annotations": [{"id": 7, "image_id": 1, "keypoints": [1, 2, 2]}]}', "has 3 keypoint values"),
        ("{not json", "not valid JSON"),
    ],
)
def test_not_coco_keypoints_fails_with_one_line(tmp_path, content, message):
    path = tmp_path / "ann.json"
    path.write_text(content)
    with pytest.raises(RMPEError) as info:
        load_coco_persons(str(path), str(tmp_path), 17)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_missing_files_fail(tmp_path):
    with pytest.raises(RMPEError, match="annotation file not found"):
        load_coco_persons(str(tmp_path / "nope.json"), str(tmp_path), 17)
    ann, _, _ = make_keypoint_dataset(tmp_path, num_images=1)
    with pytest.raises(RMPEError, match="image folder not found"):
        load_coco_persons(str(ann), str(tmp_path / "missing"), 17, check_images=True)


def test_custom_keypoint_count_from_config(tmp_path):
    """A 5-keypoint data set needs only config entries (names, pairs, sigmas)."""
    from rmpe.config import config_from_dict

    ann, img_dir, _ = make_keypoint_dataset(tmp_path, num_images=2)
    data = json.loads(Path(ann).read_text())
    keep = [0, 5, 6, 11, 12]
    for a in data["annotations"]:
        kp = np.asarray(a["keypoints"]).reshape(17, 3)[keep]
        a["keypoints"] = kp.reshape(-1).tolist()
    data["categories"] = [{"id": 1, "name": "person", "keypoints": ["n", "ls", "rs", "lh", "rh"], "skeleton": []}]
    Path(ann).write_text(json.dumps(data))
    cfg = config_from_dict({
        "model": {"name": "fastpose_se18", "num_keypoints": 5, "input_size": [64, 48], "heatmap_size": [16, 12]},
        "data": {"train_ann": str(ann), "train_images": str(img_dir), "keypoint_names": ["n", "ls", "rs", "lh", "rh"],
                 "flip_pairs": [[1, 2], [3, 4]], "sigmas": [0.026, 0.079, 0.079, 0.107, 0.107],
                 "upper_body_ids": [0, 1, 2], "lower_body_ids": [3, 4]},
    })
    ds = COCOKeypointDataset.from_config(cfg, "train")
    s = ds[(0, 0)]
    assert s["keypoints"].shape == (5, 2) and s["image"].shape == (3, 64, 48)
    # wrong count in the config: refused with a one-line message
    bad = config_from_dict({"data": {"train_ann": str(ann), "train_images": str(img_dir)}})
    with pytest.raises(RMPEError, match="expects 17"):
        COCOKeypointDataset.from_config(bad, "train")


# ----------------------------------------------------------------------------- crops


def test_plain_crop_matches_reference_and_image_content(tiny):
    ann, img_dir, people = tiny
    ds = _dataset(tiny)
    for j in range(len(ds)):
        s = ds[j]
        ref = reference_crop_matrix(ds.persons.boxes[j])
        np.testing.assert_allclose(s["matrix"].numpy(), ref, rtol=1e-5, atol=1e-3)
        kp = people[j]
        pts = kp[:, :2] @ ref[:2, :2].T + ref[:2, 2]
        np.testing.assert_allclose(s["keypoints"].numpy(), pts, atol=1e-3)
        np.testing.assert_array_equal(s["visible"].numpy(), (kp[:, 2] > 0).astype(np.float32))
        # the crop equals cv2.warpAffine with the reference matrix (BGR -> RGB, CHW)
        image = cv2.imread(str(ds.persons.image_path(j)))
        expect = cv2.warpAffine(image, ref[:2], (96, 128), flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        got = s["image"].numpy().transpose(1, 2, 0)[:, :, ::-1]
        assert np.abs(got.astype(int) - expect.astype(int)).max() <= 1
        # centred keypoints of a GT-box crop without augmentation are the keypoints themselves
        np.testing.assert_allclose(s["centred"].numpy(), pts, atol=1e-3)


def _colour_at(crop_chw: torch.Tensor, xy) -> np.ndarray:
    rgb = crop_chw.numpy().transpose(1, 2, 0)
    x, y = int(round(float(xy[0]))), int(round(float(xy[1])))
    return rgb[y, x, ::-1].astype(int)  # back to BGR


def _rot(points, deg, centre):
    r = math.radians(deg)
    c, s = math.cos(r), math.sin(r)
    out = []
    for x, y in points:
        dx, dy = x - centre[0], y - centre[1]
        out.append((centre[0] + c * dx + s * dy, centre[1] - s * dx + c * dy))
    return np.array(out)


@pytest.mark.parametrize("rotation, scale, flip", [(0.0, 1.0, True), (30.0, 1.0, False), (-45.0, 1.3, True),
                                                   (0.0, 0.8, False)])
def test_augmented_keypoints_follow_reference_and_image(tiny, rotation, scale, flip):
    ann, img_dir, people = tiny
    ds = _dataset(tiny)
    j = 3
    box = ds.persons.boxes[j]
    plain = reference_crop_matrix(box)
    params = AugmentParams(scale=scale, rotation=rotation, flip=flip)
    m = sample_matrix(box, (128, 96), 0.75, 1.25, params)
    kp = people[j]
    pts = kp[:, :2] @ plain[:2, :2].T + plain[:2, 2]  # plain crop
    centre = (48.0, 64.0)
    ref = centre + (pts - centre) / scale  # zoom out about the crop centre
    ref = _rot(ref, rotation, centre)
    if flip:
        ref[:, 0] = 96.0 - ref[:, 0]  # mirror about the crop centre x = W/2
    got = kp[:, :2] @ m[:2, :2].T + m[:2, 2]
    np.testing.assert_allclose(got, ref, atol=1e-3)
    # the image follows the same matrix: each visible joint's colour sits at its mapped point
    image = cv2.imread(str(ds.persons.image_path(j)))
    crop = torch.from_numpy(np.ascontiguousarray(warp_crop(image, m, (128, 96))[:, :, ::-1].transpose(2, 0, 1)))
    checked = 0
    for k in range(17):
        x, y = got[k]
        if kp[k, 2] > 0 and 2 <= x < 94 and 2 <= y < 126:
            np.testing.assert_array_equal(_colour_at(crop, (x, y)), PAIR_COLOURS[k])
            checked += 1
    assert checked >= 8


def test_flip_swaps_channels_in_samples(tiny):
    """A flipped sample's channel k holds the mirrored position of the partner joint."""

    class FlipOnly(Augmentation):
        def sample(self, rng, box, keypoints, visible):
            return AugmentParams(flip=True)

    ds_plain = _dataset(tiny)
    ds_flip = _dataset(tiny, augmentation=FlipOnly())
    a, b = ds_plain[(0, 2)], ds_flip[(0, 2)]
    perm = COCO.flip_permutation()
    expect = a["keypoints"].numpy()[perm].copy()
    expect[:, 0] = 96.0 - expect[:, 0]
    np.testing.assert_allclose(b["keypoints"].numpy(), expect, atol=1e-3)
    np.testing.assert_array_equal(b["visible"].numpy(), a["visible"].numpy()[perm])
    # the image is mirrored the same way: the left-shoulder channel shows the shoulder colour
    for k in (5, 6, 9, 10):
        if b["visible"][k] > 0:
            np.testing.assert_array_equal(_colour_at(b["image"], b["keypoints"][k]), PAIR_COLOURS[k])


def test_augmentation_draws_follow_recipe():
    aug = Augmentation(scale_factor=0.3, rotation_factor=40, rotation_prob=0.6, flip=True)
    rng = np.random.default_rng(1)
    vis = np.ones(17, bool)
    draws = [aug.sample(rng, np.array([0, 0, 10, 20.0]), TEMPLATE, vis) for _ in range(4000)]
    scales = np.array([d.scale for d in draws])
    rots = np.array([d.rotation for d in draws])
    flips = np.array([d.flip for d in draws])
    assert scales.min() >= 0.7 - 1e-9 and scales.max() <= 1.3 + 1e-9
    assert abs(scales.mean() - 1.0) < 0.02
    assert np.abs(rots).max() <= 80 + 1e-9
    assert abs((rots != 0).mean() - 0.6) < 0.03
    assert abs(flips.mean() - 0.5) < 0.03
    # plain reference of the clipped normal: std of clip(N(0, 0.3), -0.3, 0.3)
    ref = np.clip(np.random.default_rng(2).normal(0, 0.3, 200000), -0.3, 0.3).std()
    assert abs(scales.std() - ref) < 0.01


def test_half_body_box():
    vis = np.ones(17, bool)
    box = half_body_box(TEMPLATE, vis, COCO.upper_body_ids, COCO.lower_body_ids, choose_upper=True)
    up = TEMPLATE[list(COCO.upper_body_ids)]
    c = (up.min(0) + up.max(0)) / 2
    half = (up.max(0) - up.min(0)) / 2 * 1.2
    np.testing.assert_allclose(box, [*(c - half), *(c + half)])
    # the lower half has too few labelled joints: falls back to the upper half
    vis2 = vis.copy()
    vis2[12:] = False
    np.testing.assert_allclose(
        half_body_box(TEMPLATE, vis2, COCO.upper_body_ids, COCO.lower_body_ids, choose_upper=False), box
    )
    aug = Augmentation(half_body_prob=1.0, half_body_min_joints=8, scale_factor=0, rotation_factor=0, flip=False)
    p = aug.sample(np.random.default_rng(0), np.zeros(4), TEMPLATE, vis)
    assert p.box is not None
    few = np.zeros(17, bool)
    few[:8] = True
    assert aug.sample(np.random.default_rng(0), np.zeros(4), TEMPLATE, few).box is None


def test_photometric_jitter_stays_in_range_and_changes_pixels():
    rng = np.random.default_rng(0)
    crop = rng.integers(0, 256, (32, 24, 3), dtype=np.uint8)
    outs = [photometric_jitter(crop, np.random.default_rng(s)) for s in range(400)]
    assert all(o.dtype == np.uint8 and o.shape == crop.shape for o in outs)
    # each of the three changes is applied when its uniform draw is below 1/2
    for seed, out in enumerate(outs):
        none_applied = bool((np.random.default_rng(seed).random(3) >= 0.5).all())
        assert np.array_equal(out, crop) == none_applied
    # a draw with only the brightness change: every pixel moves by the same rounded offset
    for seed in range(400):
        g = np.random.default_rng(seed)
        u = g.random(3)
        b = g.uniform(-32.0, 32.0)
        if u[0] < 0.5 and u[1] >= 0.5 and u[2] >= 0.5:
            out = photometric_jitter(crop, np.random.default_rng(seed)).astype(int)
            for y, x, c in [(0, 0, 0), (5, 7, 1), (31, 23, 2), (10, 3, 0)]:
                assert out[y, x, c] == min(255, max(0, int(math.floor(crop[y, x, c] + b + 0.5))))
            break
    else:
        pytest.fail("no brightness-only draw in 400 seeds")


def test_samples_are_deterministic_per_epoch_and_index(tiny):
    aug = Augmentation(scale_factor=0.3, rotation_factor=40, rotation_prob=0.6, flip=True, photometric=True)
    ds = _dataset(tiny, augmentation=aug, seed=5)
    a, b = ds[(3, 4)], ds[(3, 4)]
    assert torch.equal(a["image"], b["image"]) and torch.equal(a["keypoints"], b["keypoints"])
    c = ds[(4, 4)]
    assert not torch.equal(a["keypoints"], c["keypoints"])


def test_proposals_replace_the_box(tiny):
    from pgpg import build_proposal_generator

    gen = build_proposal_generator("jitter", probability=1.0)
    aug = Augmentation(scale_factor=0, rotation_factor=0, flip=False)
    ds = _dataset(tiny, augmentation=aug, proposals=gen)
    plain = _dataset(tiny, augmentation=aug)
    diffs = [float((ds[(0, j)]["matrix"] - plain[(0, j)]["matrix"]).abs().max()) for j in range(len(ds))]
    assert max(diffs) > 1e-3
    # the centre-located keypoints ignore the proposal (GT-box crop)
    for j in range(len(ds)):
        np.testing.assert_allclose(ds[(0, j)]["centred"].numpy(), plain[(0, j)]["keypoints"].numpy(), atol=1e-3)


# ----------------------------------------------------------------------------- bad data


def _break_image(tiny, tmp_path, how):
    ann, img_dir, _ = tiny
    data = json.loads(Path(ann).read_text())
    folder = tmp_path / "imgs"
    folder.mkdir()
    for im in data["images"]:
        (folder / im["file_name"]).write_bytes((Path(img_dir) / im["file_name"]).read_bytes())
    victim = folder / data["images"][0]["file_name"]
    if how == "missing":
        victim.unlink()
    else:
        victim.write_bytes(b"not an image at all")
    return str(victim), load_coco_persons(str(ann), str(folder), 17)


@pytest.mark.parametrize("how", ["missing", "corrupt"])
def test_bad_image_is_substituted_or_reported(tiny, tmp_path, how):
    victim, persons = _break_image(tiny, tmp_path, how)
    assert persons.image_path(0) == victim
    ds = COCOKeypointDataset(persons, input_size=(128, 96))
    s = ds[(0, 0)]
    # persons 0 and 1 share the broken image: the substitute is person 2 of the next image
    assert s["bad"] == [victim] and s["error"] is None and s["valid"]
    assert s["index"] == 2 and persons.image_path(2) != victim
    strict = COCOKeypointDataset(persons, input_size=(128, 96), skip_bad_images=False)
    s = strict[(0, 0)]
    assert s["error"] and victim in s["error"] and not s["valid"]
    val = COCOKeypointDataset(persons, input_size=(128, 96), substitute_bad=False)
    s = val[(0, 0)]
    assert s["error"] is None and not s["valid"] and s["bad"] == [victim]
    batch = collate_samples([ds[(0, 1)], ds[(0, 5)], val[(0, 0)]])
    assert batch["image"].shape == (3, 3, 128, 96)
    assert batch["bad"] == [victim, victim] and batch["valid"].tolist() == [True, True, False]
    assert batch["index"].tolist() == [2, 5, 0]


# ----------------------------------------------------------------------------- sampler


def test_epoch_sampler_shards_and_skips():
    s0 = EpochSampler(10, num_replicas=2, rank=0, seed=3, drop_last=True)
    s1 = EpochSampler(10, num_replicas=2, rank=1, seed=3, drop_last=True)
    for s in (s0, s1):
        s.set_epoch(4)
    a, b = list(s0), list(s1)
    assert all(e == 4 for e, _ in a + b)
    ia, ib = [i for _, i in a], [i for _, i in b]
    assert len(ia) == len(ib) == 5 and sorted(ia + ib) == list(range(10))
    # same permutation as torch's DistributedSampler with seed + epoch
    g = torch.Generator()
    g.manual_seed(3 + 4)
    perm = torch.randperm(10, generator=g).tolist()
    assert ia == perm[0::2] and ib == perm[1::2]
    s0.skip(3)
    assert len(s0) == 2 and [i for _, i in s0] == ia[3:]
    s0.set_epoch(5)
    assert len(s0) == 5 and [i for _, i in s0] != ia


def test_batched_fetch_equals_single_samples(tiny, tmp_path):
    """__getitems__ (batched geometry) gives exactly the samples of one-by-one calls, and the
    keypoints follow the per-sample reference matrix of sample_matrix."""
    victim, persons = _break_image(tiny, tmp_path, "corrupt")
    aug = Augmentation(scale_factor=0.3, rotation_factor=40, rotation_prob=0.6, flip=True, photometric=True)
    ds = COCOKeypointDataset(persons, input_size=(128, 96), augmentation=aug, seed=9)
    keys = [(2, i) for i in range(len(ds))] + [(3, 0), (3, 7)]
    batch = ds.__getitems__(keys)
    perm = COCO.flip_permutation()
    for key, b in zip(keys, batch):
        a = ds[key]
        for name in ("image", "keypoints", "visible", "centred", "matrix"):
            assert torch.equal(a[name], b[name]), (key, name)
        assert (a["index"], a["bad"], a["valid"]) == (b["index"], b["bad"], b["valid"])
        # independent check: redraw the augmentation and build the matrix one sample at a time
        j = b["index"]
        rng = np.random.default_rng([9, key[0], j])
        kp = persons.keypoints[j].astype(np.float64)
        params = aug.sample(rng, persons.boxes[j], kp[:, :2], kp[:, 2] > 0)
        m = sample_matrix(persons.boxes[j], (128, 96), 0.75, 1.25, params)
        np.testing.assert_allclose(b["matrix"].numpy(), m, rtol=1e-5, atol=1e-4)
        pts = kp[:, :2] @ m[:2, :2].T + m[:2, 2]
        if params.flip:
            pts = pts[perm]
        np.testing.assert_allclose(b["keypoints"].numpy(), pts, atol=1e-3)
    assert batch[0]["bad"] == [victim]
