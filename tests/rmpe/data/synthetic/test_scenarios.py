"""Video scenarios: crossings (one person behind another), people leaving and coming back, ids."""
from __future__ import annotations

import json

import numpy as np
import pytest

from rmpe.data.synthetic import generate_video
from rmpe.data.synthetic.scenarios import SCENARIOS, wave
from rmpe.errors import RMPEError

FPS = 10


def _tracks(summary):
    """track_id -> {frame: annotation} from a video's annotation file."""
    data = json.loads(open(summary["annotations"]).read())
    tracks = {}
    for a in data["annotations"]:
        tracks.setdefault(a["track_id"], {})[a["image_id"]] = a
    return data, tracks


def _centre_x(ann):
    """Mean x of the annotated keypoints (hidden ones included: they keep their position), else the box centre."""
    kp = np.array(ann["keypoints"], float).reshape(17, 3)
    if not np.any(kp[:, 2] > 0):
        return ann["bbox"][0] + 0.5 * ann["bbox"][2]
    return kp[kp[:, 2] > 0, 0].mean()


def _overlap(a, b):
    """Plain xywh box intersection test."""
    return min(a[0] + a[2], b[0] + b[2]) > max(a[0], b[0]) and min(a[1] + a[3], b[1] + b[3]) > max(a[1], b[1])


def _crossings(tracks):
    """Plain loop: every swap of the x order of two people whose boxes overlap, as (i, j, t0, t1)."""
    events = []
    ids = sorted(tracks)
    for ii, i in enumerate(ids):
        for j in ids[ii + 1:]:
            both = sorted(set(tracks[i]) & set(tracks[j]))
            for t0, t1 in zip(both[:-1], both[1:]):
                before = _centre_x(tracks[i][t0]) - _centre_x(tracks[j][t0])
                after = _centre_x(tracks[i][t1]) - _centre_x(tracks[j][t1])
                touching = _overlap(tracks[i][t0]["bbox"], tracks[j][t0]["bbox"]) or _overlap(
                    tracks[i][t1]["bbox"], tracks[j][t1]["bbox"])
                if before * after < 0 and touching:
                    events.append((i, j, t0, t1))
    return events


@pytest.fixture(scope="module")
def crossing(tmp_path_factory):
    return generate_video(tmp_path_factory.mktemp("cross") / "c.mp4", 5.0, seed=4, fps=FPS, size=(320, 240),
                          num_people=5, scenario="crossing")


@pytest.fixture(scope="module")
def crowd(tmp_path_factory):
    return generate_video(tmp_path_factory.mktemp("crowd") / "c.mp4", 5.0, seed=3, fps=FPS, size=(320, 240),
                          num_people=6, scenario="crowd")


def test_wave_shapes():
    theta = np.linspace(-7, 7, 2001)
    pos, drive = wave(theta, 0.0)
    np.testing.assert_array_equal(pos, np.sin(theta))
    np.testing.assert_array_equal(drive, np.cos(theta))
    pos, drive = wave(theta, 0.95)
    assert np.abs(pos).max() <= 1.0 + 1e-12 and np.isclose(np.abs(pos).max(), 1.0, atol=1e-4)
    # drive is the derivative divided by its maximum: compare with finite differences.
    slope = np.gradient(pos, theta)
    np.testing.assert_allclose(drive[1:-1], (slope / np.abs(slope).max())[1:-1], atol=2e-3)
    # A rounded triangle: full speed (|drive| > 0.9) for most of the cycle.
    assert np.mean(np.abs(drive) > 0.9) > 0.6


def _keypoint_box(ann):
    """xyxy extent of all annotated keypoints (also those hidden by a nearer person)."""
    kp = np.array(ann["keypoints"], float).reshape(17, 3)
    kp = kp[kp[:, 2] > 0]
    return [kp[:, 0].min(), kp[:, 1].min(), kp[:, 0].max(), kp[:, 1].max()]


def _iou(a, b):
    """Plain IoU of two xyxy boxes."""
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def _strong_crossings(tracks):
    """Crossings where the two bodies' keypoint boxes overlap with IoU >= 0.4 at t0 or t1."""
    return [(i, j, t0, t1) for i, j, t0, t1 in _crossings(tracks)
            if max(_iou(_keypoint_box(tracks[i][t]), _keypoint_box(tracks[j][t])) for t in (t0, t1)) >= 0.4]


def test_crossing_has_a_crossing_per_person_every_10_seconds(crossing):
    data, tracks = _tracks(crossing)
    seconds = crossing["num_frames"] / FPS
    assert sorted(tracks) == list(range(5))
    # Strong crossings (similar depths and sizes, boxes overlapping heavily): what breaks box trackers.
    events = _strong_crossings(tracks)
    per_person = {i: sum(i in e[:2] for e in events) for i in tracks}
    assert min(per_person.values()) >= 1
    assert min(per_person.values()) / seconds * 10 >= 1.0, per_person


def test_crossing_people_pass_behind_one_another(crossing):
    data, tracks = _tracks(crossing)
    events = _strong_crossings(tracks)
    assert events
    for i, j, t0, t1 in events:
        for t in (t0, t1):
            a, b = tracks[i][t], tracks[j][t]
            far, near = (a, b) if a["depth_rank"] < b["depth_rank"] else (b, a)
            assert abs(far["bbox"][3] - near["bbox"][3]) < 0.25 * near["bbox"][3] or far["occlusion"] > 0.3
        # The farther person is painted first and so is largely hidden (but not the nearer one).
        occ_far = max(min((tracks[i][t], tracks[j][t]), key=lambda x: x["depth_rank"])["occlusion"] for t in (t0, t1))
        occ_near = min(max((tracks[i][t], tracks[j][t]), key=lambda x: x["depth_rank"])["occlusion"] for t in (t0, t1))
        assert occ_far > 0.3 and occ_far > occ_near


def test_crowd_people_leave_and_come_back_with_their_ids(crowd):
    data, tracks = _tracks(crowd)
    w, h = 320, 240
    n_frames = crowd["num_frames"]
    assert set(tracks) <= set(range(6))
    entries = exits = returns = 0
    for tid, track in tracks.items():
        frames = sorted(track)
        present = np.zeros(n_frames, bool)
        present[frames] = True
        entries += int(np.sum(~present[:-1] & present[1:]))
        exits += int(np.sum(present[:-1] & ~present[1:]))
        gaps = [(a, b) for a, b in zip(frames[:-1], frames[1:]) if b - a > 1]
        for a, b in gaps:
            before, after = track[a], track[b]
            # Out of the frame (not hidden by a nearer person): the last and first boxes touch a side.
            for ann in (before, after):
                x, y, bw, bh = ann["bbox"]
                assert x < 1.0 or x + bw > w - 2.0
            if b - a > 3:
                returns += 1
                # The same person at the same depth: joints seen both times lie at the same rows.
                kb = np.array(before["keypoints"]).reshape(17, 3)
                ka = np.array(after["keypoints"]).reshape(17, 3)
                both = (kb[:, 2] > 0) & (ka[:, 2] > 0)
                if both.any():
                    assert np.abs(kb[both, 1] - ka[both, 1]).max() < 0.1 * max(before["bbox"][3], after["bbox"][3])
    assert entries >= 2 and exits >= 2 and returns >= 1
    # Only visible people are annotated; partly visible ones with the keypoints inside the image.
    for a in data["annotations"]:
        assert a["area"] > 0
        kp = np.array(a["keypoints"]).reshape(17, 3)
        inside = kp[kp[:, 2] > 0]
        assert np.all((inside[:, 0] >= -0.5) & (inside[:, 0] < w - 0.5) & (inside[:, 1] >= -0.5))
        assert np.all(kp[kp[:, 2] == 0, :2] == 0)
    assert any(a["num_keypoints"] < 17 and (a["bbox"][0] < 1 or a["bbox"][0] + a["bbox"][2] > w - 2)
               for a in data["annotations"])  # people cut by the side of the frame


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_scenarios_are_deterministic_per_seed(tmp_path, scenario):
    def run(folder, seed):
        s = generate_video(tmp_path / folder, 1.0, seed=seed, fps=5, size=(128, 96), num_people=4, scenario=scenario)
        return open(s["annotations"], "rb").read(), open(s["detections"], "rb").read()

    a = run("a", 7)
    assert a == run("b", 7)
    assert a[0] != run("c", 8)[0]
    assert json.loads(a[0])["info"]["scenario"] == scenario


def test_unknown_scenario_is_an_error(tmp_path):
    with pytest.raises(RMPEError, match="scenario"):
        generate_video(tmp_path, 1.0, seed=0, scenario="parade")
