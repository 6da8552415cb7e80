"""One-Euro keypoint smoothing per track, against a plain scalar implementation written here."""
import math

import numpy as np
import pytest

from rmpe.errors import RMPEError
from rmpe.tracking.smoothing import KeypointSmoother


class ScalarOneEuro:
    """One coordinate's One-Euro filter, written from the paper's pseudo-code, one value at a time."""

    def __init__(self, min_cutoff, beta, d_cutoff):
        self.min_cutoff, self.beta, self.d_cutoff = min_cutoff, beta, d_cutoff
        self.x = None
        self.dx = 0.0

    @staticmethod
    def _alpha(cutoff, dt):
        tau = 1.0 / (2.0 * math.pi * cutoff)
        return 1.0 / (1.0 + tau / dt)

    def __call__(self, value, dt):
        if self.x is None:
            self.x = value
            return value
        a_d = self._alpha(self.d_cutoff, dt)
        self.dx = a_d * (value - self.x) / dt + (1 - a_d) * self.dx
        a = self._alpha(self.min_cutoff + self.beta * abs(self.dx), dt)
        self.x = a * value + (1 - a) * self.x
        return self.x


def test_step_response_by_hand():
    # beta 0: a fixed low-pass; 30 fps, 1 Hz: alpha = 1 / (1 + 30 / (2 pi)) = 0.1731707...
    s = KeypointSmoother(30.0, min_cutoff=1.0, beta=0.0)
    first = s(0, np.array([7]), np.zeros((1, 1, 2)))
    assert np.array_equal(first, np.zeros((1, 1, 2)))  # the first sample passes through
    out = s(1, np.array([7]), np.full((1, 1, 2), 10.0))
    alpha = 1.0 / (1.0 + 30.0 / (2.0 * math.pi))
    assert out[0, 0, 0] == pytest.approx(10.0 * alpha, abs=1e-12)
    assert alpha == pytest.approx(0.17317072, abs=1e-8)


def test_matches_scalar_reference_with_several_tracks_gaps_and_untracked_people():
    rng = np.random.default_rng(0)
    fps, k = 25.0, 3
    s = KeypointSmoother(fps, min_cutoff=1.5, beta=0.05, d_cutoff=2.0, max_gap=100)
    filters = {}
    last = {}
    # track 1 every frame, track 2 skips frames 4-6, id -1 people never smoothed, track 3 from frame 5
    for t in range(12):
        ids = [1] + ([2] if not 4 <= t <= 6 else []) + [-1] + ([3] if t >= 5 else [])
        kp = rng.normal(100, 20, (len(ids), k, 2))
        out = s(t, np.array(ids), kp)
        for i, tid in enumerate(ids):
            if tid < 0:
                assert np.array_equal(out[i], kp[i])
                continue
            if tid not in filters:
                filters[tid] = [[ScalarOneEuro(1.5, 0.05, 2.0) for _ in range(2)] for _ in range(k)]
            dt = (t - last.get(tid, t - 1)) / fps
            last[tid] = t
            for j in range(k):
                for c in range(2):
                    assert out[i, j, c] == pytest.approx(filters[tid][j][c](kp[i, j, c], dt), abs=1e-9)


def test_reduces_jitter_of_a_still_person_and_follows_a_moving_one():
    rng = np.random.default_rng(1)
    s = KeypointSmoother(30.0, min_cutoff=1.0, beta=0.01)
    still = rng.normal(0, 2.0, (90, 17, 2)) + 200.0
    out = np.stack([s(t, np.array([1]), still[t:t + 1])[0] for t in range(90)])
    assert out[30:].std() < 0.4 * still[30:].std()
    # a keypoint moving at 300 px/s: with beta the lag stays a few px; without it it is much larger
    moving = (300.0 / 30.0) * np.arange(60)[:, None, None] * np.ones((60, 1, 2))
    lag = {}
    for beta in (0.0, 0.05):
        m = KeypointSmoother(30.0, min_cutoff=1.0, beta=beta)
        lag[beta] = abs(moving[-1, 0, 0] - [m(t, np.array([4]), moving[t:t + 1])[0] for t in range(60)][-1][0, 0])
    assert lag[0.05] < 0.25 * lag[0.0]


def test_state_of_a_long_gone_track_is_dropped():
    s = KeypointSmoother(10.0, max_gap=5)
    s(0, np.array([1]), np.zeros((1, 2, 2)))
    s(3, np.array([2]), np.zeros((1, 2, 2)))
    s(9, np.array([2]), np.zeros((1, 2, 2)))
    out = s(10, np.array([1]), np.full((1, 2, 2), 50.0))  # track 1's state is gone: passes through
    assert np.array_equal(out, np.full((1, 2, 2), 50.0))


def test_bad_settings_and_shapes():
    with pytest.raises(RMPEError, match="fps"):
        KeypointSmoother(0.0)
    with pytest.raises(RMPEError, match="beta"):
        KeypointSmoother(30.0, beta=-1.0)
    with pytest.raises(RMPEError, match="keypoints"):
        KeypointSmoother(30.0)(0, np.array([1, 2]), np.zeros((1, 17, 2)))


def test_from_config():
    from rmpe.config import load_config

    cfg = load_config(overrides=["tracking.smooth_min_cutoff=2.5", "tracking.smooth_beta=0.2", "tracking.max_lost=7"])
    s = KeypointSmoother.from_config(cfg, 12.0)
    assert (s.fps, s.min_cutoff, s.beta, s.d_cutoff, s.max_gap) == (12.0, 2.5, 0.2, 1.0, 7)
