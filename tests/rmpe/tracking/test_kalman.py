"""The batched constant-velocity Kalman filter against plain 2x2 matrix algebra."""
import numpy as np
import pytest

from rmpe.tracking import kalman

F = np.array([[1.0, 1.0], [0.0, 1.0]])
H = np.array([[1.0, 0.0]])


def _plain_predict(x, P, q_pos, q_vel):
    return F @ x, F @ P @ F.T + np.diag([q_pos ** 2, q_vel ** 2])


def _plain_update(x, P, z, r):
    S = H @ P @ H.T + r ** 2
    K = P @ H.T / S
    x = x + (K * (z - H @ x)).ravel()
    P = (np.eye(2) - K @ H) @ P
    return x, P


def test_one_dimensional_case_by_hand():
    mean = np.array([[[10.0, 2.0]]])
    cov = np.array([[[[4.0, 1.0], [1.0, 3.0]]]])
    mean, cov = kalman.predict(mean, cov, np.array([[0.5]]), np.array([[0.1]]))
    # x = F x; P00 = 4 + 2*1 + 3 + 0.5^2, P01 = 1 + 3, P11 = 3 + 0.1^2
    np.testing.assert_allclose(mean[0, 0], [12.0, 2.0])
    np.testing.assert_allclose(cov[0, 0], [[9.25, 4.0], [4.0, 3.01]])
    mean, cov = kalman.update(mean, cov, np.array([[13.0]]), np.array([[1.0]]))
    s = 9.25 + 1.0
    gain = np.array([9.25, 4.0]) / s
    np.testing.assert_allclose(mean[0, 0], [12.0 + gain[0], 2.0 + gain[1]])
    expect = np.array([[9.25, 4.0], [4.0, 3.01]]) - np.outer(gain, [9.25, 4.0])
    np.testing.assert_allclose(cov[0, 0], expect)


def test_batched_equals_plain_filters():
    rng = np.random.default_rng(0)
    t, d = 5, 7
    z0 = rng.normal(100, 30, (t, d))
    mean, cov = kalman.initiate(z0, rng.uniform(1, 5, (t, d)), rng.uniform(0.1, 1, (t, d)))
    plain = [[(mean[i, j].copy(), cov[i, j].copy()) for j in range(d)] for i in range(t)]
    for step in range(6):
        qp, qv, r = rng.uniform(0.5, 2, (t, d)), rng.uniform(0.05, 0.3, (t, d)), rng.uniform(0.5, 3, (t, d))
        z = rng.normal(100 + 3 * step, 30, (t, d))
        mask = rng.random((t, d)) > 0.3
        mean, cov = kalman.predict(mean, cov, qp, qv)
        mean, cov = kalman.update(mean, cov, z, r, mask)
        for i in range(t):
            for j in range(d):
                x, P = _plain_predict(*plain[i][j], qp[i, j], qv[i, j])
                if mask[i, j]:
                    x, P = _plain_update(x, P, z[i, j], r[i, j])
                plain[i][j] = (x, P)
    for i in range(t):
        for j in range(d):
            np.testing.assert_allclose(mean[i, j], plain[i][j][0], rtol=1e-10)
            np.testing.assert_allclose(cov[i, j], plain[i][j][1], rtol=1e-10)


def test_constant_velocity_is_learned():
    mean, cov = kalman.initiate(np.array([[0.0]]), np.array([[1.0]]), np.array([[1.0]]))
    for f in range(1, 30):
        mean, cov = kalman.predict(mean, cov, 0.1, 0.01)
        mean, cov = kalman.update(mean, cov, np.array([[3.0 * f]]), 0.5)
    assert mean[0, 0, 1] == pytest.approx(3.0, abs=0.05)
    mean, _ = kalman.predict(mean, cov, 0.1, 0.01)
    assert mean[0, 0, 0] == pytest.approx(90.0, abs=0.5)


def test_box_conversions_round_trip():
    boxes = np.array([[10.0, 20.0, 50.0, 120.0], [0.0, 0.0, 30.0, 60.0]])
    state = kalman.xyxy_to_cxcyah(boxes)
    np.testing.assert_allclose(state[0], [30.0, 70.0, 0.4, 100.0])
    np.testing.assert_allclose(kalman.cxcyah_to_xyxy(state), boxes)
