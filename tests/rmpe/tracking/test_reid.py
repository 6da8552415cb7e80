"""Stage 3 of PoseTracker: re-identification of people who leave and come back, by appearance alone."""
import numpy as np
import pytest

from rmpe.tracking import PoseTracker

from .test_tracker import frame, person

# Non-negative features, as pooled ReLU maps are: a shared positive part (what makes raw cosine
# distances tiny) plus one strong channel per person.
BASE = np.full(8, 1.0)
LOOKS = {name: BASE + 1.5 * np.eye(8)[i] for i, name in enumerate("ABCD")}


def look(name, rng):
    return LOOKS[name] + np.abs(rng.normal(0, 0.05, 8))


def leave_and_return(tracker, comer="A", features=True, away=50, seed=0, partial=0):
    """A walks right from x = 100 and leaves after frame 19 (no detection); B and C stand still in the
    frame all along. After ``away`` frames ``comer`` (A again, or the stranger D) walks in at
    x = 1100, far from where A left. Returns A's id before leaving, the comer's ids, and B's and C's
    ids per frame. With ``partial`` the comer's first frames carry the stranger D's feature (as a person
    half inside the frame's edge looks like nobody in particular)."""
    rng = np.random.default_rng(seed)
    a_id, comer_ids, others = None, [], []
    for f in range(20 + away + 20):
        people = [person(600, 50, 70, 180), person(850, 60, 70, 180)]
        names = ["B", "C"]
        if f < 20:
            people.insert(0, person(100 + 6 * f, 40, 80, 200))
            names.insert(0, "A")
        elif f >= 20 + away:
            people.insert(0, person(1100 - 6 * (f - 20 - away), 40, 80, 200))
            names.insert(0, comer)
        shown = ["D" if (n == comer and 20 + away <= f < 20 + away + partial) else n for n in names]
        feats = np.array([look(n, rng) for n in shown]) if features else None
        ids = tracker.update(*frame(people), features=feats)
        others.append(ids[-2:])
        if f == 19:
            a_id = ids[0]
        elif f >= 20 + away:
            comer_ids.append(ids[0])
    return a_id, np.array(comer_ids), np.array(others)


def test_person_back_far_away_after_50_frames_gets_its_id_back():
    tracker = PoseTracker()  # max_lost 30 < 50: only stage 3 can bring A back
    a_id, back, others = leave_and_return(tracker)
    assert a_id > 0 and (back == a_id).all(), back
    assert (others == others[0]).all() and a_id not in others[0]


@pytest.mark.parametrize("young, expect_back", [(15, True), (3, False)])
def test_young_track_hands_its_person_back(young, expect_back):
    # A's first 5 frames back look like nobody known: a new track is born and confirmed (-1, new id x 4);
    # when A looks like A again, that young track gives A back its old id and dies, its id retired
    tracker = PoseTracker(reid_young_frames=young)
    a_id, back, others = leave_and_return(tracker, partial=5)
    assert back[0] == -1 and (back[1:5] > a_id).all() and (back[1:5] == back[1]).all(), back
    if expect_back:
        assert (back[5:] == a_id).all(), back
        assert back[1] not in tracker.tracks()["ids"]  # the young track is gone for good
    else:  # the new track is older than reid_young_frames by then: it keeps its own id
        assert (back[5:] == back[1]).all(), back


def test_stranger_entering_gets_a_new_id():
    tracker = PoseTracker()
    a_id, back, others = leave_and_return(tracker, comer="D")
    assert back[0] == -1 and (back[1:] > 0).all() and (back[1:] == back[1]).all(), back
    assert back[1] not in (a_id, *others[0]) and back[1] > max(a_id, *others[0])


def test_without_features_the_returning_person_is_new():
    # the old behaviour: beyond max_lost nothing brings A back
    a_id, back, _ = leave_and_return(PoseTracker(), features=False)
    assert (back[1:] > 0).all() and (back[1:] != a_id).all() and back[0] == -1
    # and with features, but a re-identification buffer shorter than the absence
    a_id, back, _ = leave_and_return(PoseTracker(reid_max_lost=40), features=True)
    assert (back[1:] != a_id).all()


def test_reid_gate_and_centring():
    # the raw cosine distance between A and B is small (shared positive part): a gate on raw distances
    # could not tell them apart, the centred one can
    raw = 1 - LOOKS["A"] @ LOOKS["B"] / (np.linalg.norm(LOOKS["A"]) * np.linalg.norm(LOOKS["B"]))
    assert raw < 0.3
    # a gate of 0 admits no pair, so A comes back as a new person
    a_id, back, _ = leave_and_return(PoseTracker(reid_max_distance=0.0))
    assert (back[1:] != a_id).all()


def test_running_mean_is_the_mean_of_unit_features_then_a_window():
    tracker = PoseTracker(reid_mean_window=3)
    rng = np.random.default_rng(1)
    seen = []
    for f in range(4):
        feats = np.abs(rng.normal(size=(2, 5)))
        seen += list(feats / np.linalg.norm(feats, axis=1, keepdims=True))
        tracker.update(*frame([person(100, 40, 80, 200), person(400, 40, 80, 200)]), features=feats)
        if f == 0:  # 2 features <= window: their exact mean
            np.testing.assert_allclose(tracker._feature_mean, np.mean(seen, axis=0), atol=1e-12)
    # past the window each frame moves the mean by (sum - m mean) / window: a hand loop
    ref = np.mean(seen[:2], axis=0)
    for f in range(1, 4):
        batch = np.array(seen[2 * f:2 * f + 2])
        ref = ref + (batch.sum(axis=0) - 2 * ref) / 3
    np.testing.assert_allclose(tracker._feature_mean, ref, atol=1e-12)


@pytest.mark.parametrize("bad", [{"reid_max_lost": -1}, {"reid_mean_window": 0}])
def test_bad_reid_settings(bad):
    from rmpe.errors import RMPEError

    with pytest.raises(RMPEError):
        PoseTracker(**bad)
