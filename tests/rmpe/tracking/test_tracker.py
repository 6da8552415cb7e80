"""PoseTracker on hand-built frames: crossings, occlusion, duplicates, id lifetime, config."""
import ast
from pathlib import Path

import numpy as np
import pytest

from rmpe.config import Config, TrackingConfig, load_config
from rmpe.errors import RMPEError
from rmpe.tracking import PoseTracker

# A standing person in box-relative coordinates (x across the width, y down the height), COCO order.
ARMS_DOWN = np.array([
    [0.50, 0.08], [0.55, 0.06], [0.45, 0.06], [0.60, 0.08], [0.40, 0.08],
    [0.70, 0.22], [0.30, 0.22], [0.80, 0.38], [0.20, 0.38], [0.85, 0.52], [0.15, 0.52],
    [0.62, 0.55], [0.38, 0.55], [0.62, 0.75], [0.38, 0.75], [0.62, 0.95], [0.38, 0.95],
])
ARMS_UP = ARMS_DOWN.copy()
ARMS_UP[7:11] = [[0.85, 0.12], [0.15, 0.12], [0.90, 0.00], [0.10, 0.00]]


def person(cx, top, w, h, shape=ARMS_DOWN):
    """(box (4,), keypoints (17, 2)) of a person whose box is centred at cx, from ``top`` down h px."""
    box = np.array([cx - w / 2, top, cx + w / 2, top + h])
    return box, box[:2] + shape * [w, h]


def frame(people, scores=None):
    """update() arguments for a list of (box, keypoints)."""
    n = len(people)
    boxes = np.array([p[0] for p in people]).reshape(n, 4)
    kps = np.array([p[1] for p in people]).reshape(n, 17, 2)
    scores = np.full(n, 0.9) if scores is None else np.asarray(scores, float)
    return boxes, scores, kps, np.full((n, 17), 0.9)


def crossing_ids(tracker, frames=50, swap=(24, 25, 26)):
    """Person A (tall, arms down) walks right, B (smaller, arms up, behind) walks left; they meet at
    frame 25. At the ``swap`` frames the detector lists them in reverse order and each pose comes
    with the other person's box. Returns the ids of A and B per frame."""
    out = []
    for f in range(frames):
        a = person(100 + 8 * f, 20, 80, 200, ARMS_DOWN)
        b = person(500 - 8 * f, 30, 70, 170, ARMS_UP)
        if f in swap:
            boxes, scores, kps, kss = frame([(a[0], b[1]), (b[0], a[1])])  # box A + pose B, box B + pose A
            ids = tracker.update(boxes, scores, kps, kss)
            out.append((ids[1], ids[0]))
        else:
            ids = tracker.update(*frame([a, b]))
            out.append((ids[0], ids[1]))
    return np.array(out)


def test_crossing_with_swapped_boxes_keeps_ids():
    ids = crossing_ids(PoseTracker())
    assert (ids[:, 0] == ids[0, 0]).all() and (ids[:, 1] == ids[0, 1]).all(), ids.T
    assert ids[0, 0] != ids[0, 1] and (ids > 0).all()


def test_crossing_is_hard_for_boxes_alone():
    # the scenario can fail: a tracker that looks only at boxes follows the swapped boxes
    ids = crossing_ids(PoseTracker(oks_weight=0.0))
    assert not ((ids[:, 0] == ids[0, 0]).all() and (ids[:, 1] == ids[0, 1]).all())


def occlusion_ids(tracker, hidden=range(20, 30), frames=50):
    """Person A walks right at 5 px/frame and is not detected during ``hidden``; person B stands
    still on the far side. Returns A's id per visible frame and B's ids."""
    a_ids, b_ids = [], []
    for f in range(frames):
        b = person(900, 50, 70, 180)
        if f in hidden:
            ids = tracker.update(*frame([b]))
            b_ids.append(ids[0])
            continue
        a = person(100 + 5 * f, 40, 80, 200)
        ids = tracker.update(*frame([a, b]))
        a_ids.append(ids[0])
        b_ids.append(ids[1])
    return np.array(a_ids), np.array(b_ids)


def test_person_hidden_for_ten_frames_gets_the_same_id_back():
    a_ids, b_ids = occlusion_ids(PoseTracker())
    assert (a_ids == a_ids[0]).all() and a_ids[0] > 0, a_ids
    assert (b_ids == b_ids[0]).all() and b_ids[0] != a_ids[0]


def test_hidden_person_is_new_when_the_buffer_is_too_short():
    a_ids, _ = occlusion_ids(PoseTracker(max_lost=5))
    assert a_ids[0] > 0 and a_ids[-1] > 0 and a_ids[-1] != a_ids[0]


def swap_while_hidden(tracker):
    """Two people of the same size and pose, side by side, swap places while both are hidden;
    only their appearance tells them apart when they come back. Returns (ids before, ids after)."""
    feats = np.array([[1.0, 0.0, 0.2], [0.0, 1.0, 0.2]])
    spots = [person(200, 40, 80, 200), person(240, 40, 80, 200)]
    for _ in range(5):
        before = tracker.update(*frame(spots), features=feats)
    for _ in range(3):
        tracker.update(*frame([]))
    for _ in range(3):  # back, swapped
        after = tracker.update(*frame(spots), features=feats[::-1])
    return list(before), list(after)


def test_reidentification_uses_appearance_when_given():
    before, after = swap_while_hidden(PoseTracker(max_lost=20))
    assert after == before[::-1]
    before, after = swap_while_hidden(PoseTracker(max_lost=20, appearance_weight=0.0))
    assert after == before  # without appearance, position decides (the case above can fail)


def test_duplicate_detection_never_takes_a_second_id():
    tracker = PoseTracker()
    seen = set()
    for f in range(30):
        main = person(200 + 3 * f, 40, 80, 200)
        dup = (main[0] + [4, 2, 6, 3], main[1] + [4, 3])  # a slightly shifted second box and pose
        if f % 7 == 3:  # the main detection is missed: only the duplicate remains
            ids = tracker.update(*frame([dup], scores=[0.35]))
            assert ids[0] in seen  # the duplicate continues the person's track
        else:
            order = [main, dup] if f % 2 else [dup, main]
            sc = [0.9, 0.35] if f % 2 else [0.35, 0.9]
            ids = tracker.update(*frame(order, scores=sc))
            main_id, dup_id = (ids[0], ids[1]) if f % 2 else (ids[1], ids[0])
            assert dup_id == -1 and main_id > 0
        seen.update(int(i) for i in ids if i >= 0)
    assert seen == {1}


def test_high_score_duplicate_starts_no_track():
    tracker = PoseTracker()
    for f in range(10):
        main = person(200 + 3 * f, 40, 80, 200)
        dup = (main[0] + [3, 2, 5, 3], main[1] + [3, 2])
        ids = tracker.update(*frame([main, dup], scores=[0.9, 0.75]))
        assert ids[0] == 1 and ids[1] == -1
    assert tracker.num_tracks == 1


def test_ids_never_repeat_after_a_track_dies():
    tracker = PoseTracker(max_lost=3, min_hits=1)
    lives = []  # (first frame, id) of every life of a person at the same spot
    current = None
    for f in range(60):
        visible = (f // 10) % 2 == 0  # 10 frames seen, 10 frames gone (> max_lost): a new life each time
        ids = tracker.update(*frame([person(300, 40, 80, 200)] if visible else []))
        if visible:
            if current is None:
                current = ids[0]
                lives.append(current)
            assert ids[0] == current
        else:
            current = None
    assert len(lives) == 3 and len(set(lives)) == 3 and lives == sorted(lives)


def test_new_track_waits_for_min_hits_after_the_first_frame():
    tracker = PoseTracker(min_hits=3)
    a = person(100, 40, 80, 200)
    assert list(tracker.update(*frame([a]))) == [1]  # first frame: at once
    got = []
    for f in range(4):
        got.append(tracker.update(*frame([a, person(500 + f, 40, 80, 200)]))[1])
    assert got == [-1, -1, 2, 2]
    # a one-frame false positive consumes no id
    tracker.update(*frame([a, person(800, 40, 80, 200)]))
    tracker.update(*frame([a]))
    assert tracker.update(*frame([a, person(503, 40, 80, 200)]))[1] == 2  # re-identified, not new
    assert tracker.tracks()["ids"].max() == 2


def test_low_score_detection_never_starts_a_track():
    tracker = PoseTracker()
    for _ in range(5):
        ids = tracker.update(*frame([person(100, 40, 80, 200)], scores=[0.4]))
        assert ids[0] == -1
    assert tracker.num_tracks == 0


def test_reset_forgets_tracks_and_restarts_ids():
    tracker = PoseTracker()
    tracker.update(*frame([person(100, 40, 80, 200), person(400, 40, 80, 200)]))
    assert tracker.num_tracks == 2
    tracker.reset()
    assert tracker.num_tracks == 0
    assert list(tracker.update(*frame([person(400, 40, 80, 200)]))) == [1]


def test_empty_frames_and_shapes():
    tracker = PoseTracker()
    assert tracker.update(np.zeros((0, 4)), np.zeros(0), np.zeros((0, 17, 2)), np.zeros((0, 17))).shape == (0,)
    ids = tracker.update(*frame([person(100, 40, 80, 200)]))
    assert ids.dtype == np.int64
    with pytest.raises(ValueError):
        tracker.update(np.zeros((1, 4)), np.zeros(1), np.zeros((1, 5, 2)), np.zeros((1, 5)))


def test_from_config():
    cfg = load_config(overrides=["tracking.min_hits=4", "tracking.max_lost=7", "tracking.oks_weight=2"])
    tracker = PoseTracker.from_config(cfg)
    assert (tracker.min_hits, tracker.max_lost, tracker.oks_weight) == (4, 7, 2.0)
    assert tracker.high_score == TrackingConfig().high_score
    assert len(tracker.sigmas) == 17
    alone = PoseTracker.from_config(TrackingConfig(max_lost=3), min_hits=1)
    assert (alone.max_lost, alone.min_hits) == (3, 1)
    assert PoseTracker.from_config(Config()).__dict__.keys() == PoseTracker().__dict__.keys()


def test_config_rejects_bad_tracking_values():
    with pytest.raises(RMPEError, match="tracking.high_score"):
        load_config(overrides=["tracking.high_score=1.5"])
    with pytest.raises(RMPEError, match="tracking.low_score"):
        load_config(overrides=["tracking.low_score=0.7", "tracking.high_score=0.5"])
    with pytest.raises(RMPEError, match="unknown key 'tracking.nope'"):
        load_config(overrides=["tracking.nope=1"])
    with pytest.raises(RMPEError):
        PoseTracker(low_score=0.8, high_score=0.5)


def test_tracking_package_imports_no_torch():
    root = Path(__file__).resolve().parents[3] / "rmpe" / "tracking"
    for path in root.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not any(n.split(".")[0] == "torch" for n in names), path


def test_long_lost_shrinking_track_keeps_a_proper_box():
    tracker = PoseTracker(max_lost=200)
    for f in range(10):  # a person shrinking fast (walking away), then gone for long
        h = 200 - 15 * f
        tracker.update(*frame([person(300, 40, 0.4 * h, h)]))
    for _ in range(150):
        tracker.update(*frame([]))
    boxes = tracker.tracks()["boxes"]
    assert len(boxes) == 1 and np.isfinite(boxes).all()
    assert boxes[0, 2] > boxes[0, 0] and boxes[0, 3] > boxes[0, 1]


def test_frame_rate_scales_the_velocity_noise_only():
    """At 10 fps a frame is three 30-fps frames long: the velocity noise (and the initial velocity
    uncertainty) triple, position and measurement noise stay; 0 means 30 fps."""
    heights = np.array([100.0, 250.0])
    at30 = PoseTracker(frame_rate=30)
    at10 = PoseTracker(frame_rate=10)
    for t in (at30, at10, PoseTracker()):
        t._mean = np.zeros((2, 4 + 2 * 17, 2))
    pos30, vel30, meas30 = at30._noise(heights)
    pos10, vel10, meas10 = at10._noise(heights)
    assert np.allclose(vel10[:, 3], 3 * 0.00625 * heights) and np.allclose(vel30[:, 3], 0.00625 * heights)
    assert np.allclose(pos10, pos30) and np.allclose(meas10, meas30)
    assert np.allclose(pos30[:, 0], 0.05 * heights)
    assert np.allclose(PoseTracker()._noise(heights)[1], vel30)
    with pytest.raises(RMPEError):
        PoseTracker(frame_rate=-1)


def test_walkers_turning_at_10_fps_keep_their_ids_through_crossings():
    """Two walkers going back and forth (15 px per frame, turning every 20 frames) cross each other
    three times at 10 fps, on boxes alone: with the frame rate given, the velocity follows the turns
    and nobody swaps; with 30-fps noise the velocity lags behind the turns and the ids swap."""
    def walk(t, x0, period=40):
        phase = (t % period) / period
        tri = 4 * phase - 1 if phase < 0.5 else 3 - 4 * phase  # triangle wave in [-1, 1]
        return x0 + 150 * tri

    def run(rate):
        tr = PoseTracker(frame_rate=rate, min_hits=1)
        owners = []
        for t in range(120):
            xs = [walk(t, 320), walk(t + 20, 330)]
            boxes = np.array([[x - 40, 100, x + 40, 300] for x in xs], float)
            ids = tr.update(boxes, np.full(2, 0.9), np.zeros((2, 17, 2)), np.zeros((2, 17)))  # no pose help
            owners.append(tuple(int(i) for i in ids))
        return owners

    owners = run(10)
    assert set(owners) == {(1, 2)}
    assert (2, 1) in set(run(30))
