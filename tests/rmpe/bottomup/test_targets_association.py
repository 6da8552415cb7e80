"""rmpe.bottomup encode / decode against plain per-pixel and per-pair loops written here."""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from rmpe.bottomup import LIMBS, decode, encode, greedy_match
from rmpe.keypoints import COCO_SKELETON

# A standing person, 17 COCO joints, about 34 map px tall, feet at y + 33 (map pixels).
PERSON = np.array([
    [0, 0], [1, -1], [-1, -1], [2, 0], [-2, 0], [4, 5], [-4, 5], [5, 11], [-5, 11], [5, 16], [-5, 16],
    [3, 17], [-3, 17], [3, 25], [-3, 25], [3, 33], [-3, 33],
], dtype=np.float64)


# ---------------------------------------------------------------------------- plain references
def plain_encode(kp, vis, size, sigma, width, limbs, ignore=()):
    h, w = size
    n, k = vis.shape
    maps = np.zeros((k + 1, h, w))
    fields = np.zeros((2 * len(limbs), h, w))
    mask = np.ones((h, w))
    for y in range(h):
        for x in range(w):
            for j in range(k):
                best = 0.0
                for i in range(n):
                    if vis[i, j]:
                        d2 = (x - kp[i, j, 0]) ** 2 + (y - kp[i, j, 1]) ** 2
                        best = max(best, math.exp(-d2 / sigma**2))
                maps[j, y, x] = best
            maps[k, y, x] = max(0.0, 1.0 - max(maps[:k, y, x]))
            for c, (a, b) in enumerate(limbs):
                sx = sy = 0.0
                count = 0
                for i in range(n):
                    if not (vis[i, a] and vis[i, b]):
                        continue
                    ax, ay = kp[i, a]
                    bx, by = kp[i, b]
                    length = math.hypot(bx - ax, by - ay)
                    if length <= 1e-6:
                        continue
                    vx, vy = (bx - ax) / length, (by - ay) / length
                    along = vx * (x - ax) + vy * (y - ay)
                    across = abs(vx * (y - ay) - vy * (x - ax))
                    if 0 <= along <= length and across <= width:
                        sx, sy, count = sx + vx, sy + vy, count + 1
                if count:
                    fields[2 * c, y, x] = sx / count
                    fields[2 * c + 1, y, x] = sy / count
            for x1, y1, x2, y2 in ignore:
                if x1 <= x <= x2 and y1 <= y <= y2:
                    mask[y, x] = 0.0
    return maps, fields, mask


def plain_peaks(maps, threshold):
    """Loop over pixels: local maxima (3x3, borders excluded from the window) + log-parabola."""
    k, h, w = maps.shape
    out = []
    for j in range(k):
        for y in range(h):
            for x in range(w):
                v = maps[j, y, x]
                if v <= threshold:
                    continue
                window = maps[j, max(0, y - 1):y + 2, max(0, x - 1):x + 2]
                if v < window.max():
                    continue
                pos = []
                for axis in (0, 1):
                    if axis == 0:
                        inside = 0 < x < w - 1
                        lo, hi = (maps[j, y, x - 1], maps[j, y, x + 1]) if inside else (0, 0)
                    else:
                        inside = 0 < y < h - 1
                        lo, hi = (maps[j, y - 1, x], maps[j, y + 1, x]) if inside else (0, 0)
                    off = 0.0
                    if inside:
                        L, C, R = (math.log(max(float(t), 1e-12)) for t in (lo, v, hi))
                        curv = L - 2 * C + R
                        if curv < -1e-9:
                            off = min(0.5, max(-0.5, 0.5 * (L - R) / curv))
                    pos.append((x if axis == 0 else y) + off)
                out.append((j, pos[0], pos[1], float(v)))
    return out


def plain_associate(maps, fields, limbs, threshold=0.1, samples=10, sthr=0.05, agree=0.8, min_parts=3):
    k = maps.shape[0] - 1
    h, w = maps.shape[1:]
    peaks = plain_peaks(maps[:k].astype(np.float32).astype(np.float64), threshold)
    by_joint = {j: [i for i, p in enumerate(peaks) if p[0] == j] for j in range(k)}
    max_len = 0.5 * h
    people = []  # dict joint -> peak id
    for c, (ja, jb) in enumerate(limbs):
        cands = []
        for pa in by_joint[ja]:
            for pb in by_joint[jb]:
                ax, ay = peaks[pa][1:3]
                bx, by = peaks[pb][1:3]
                length = math.hypot(bx - ax, by - ay)
                if length <= 1e-9:
                    continue
                ux, uy = (bx - ax) / length, (by - ay) / length
                dots = []
                for s in range(samples):
                    t = s / (samples - 1)
                    x = min(max(ax + t * (bx - ax), 0.0), w - 1.0)
                    y = min(max(ay + t * (by - ay), 0.0), h - 1.0)
                    x0, y0 = min(int(math.floor(x)), w - 2), min(int(math.floor(y)), h - 2)
                    tx, ty = x - x0, y - y0
                    f = [(1 - ty) * ((1 - tx) * fields[ch, y0, x0] + tx * fields[ch, y0, x0 + 1])
                         + ty * ((1 - tx) * fields[ch, y0 + 1, x0] + tx * fields[ch, y0 + 1, x0 + 1])
                         for ch in (2 * c, 2 * c + 1)]
                    dots.append(f[0] * ux + f[1] * uy)
                e = sum(dots) / samples + min(0.0, max_len / length - 1.0)
                if sum(d > sthr for d in dots) >= math.ceil(agree * samples - 1e-9) and e > 0:
                    cands.append((e, pa, pb))
        cands.sort(key=lambda t: -t[0])  # stable: ties keep (pa, pb) order like argmax
        used_a, used_b = set(), set()
        for e, pa, pb in cands:
            if pa in used_a or pb in used_b:
                continue
            used_a.add(pa), used_b.add(pb)
            owners = [i for i, p in enumerate(people) if pa in p.values() or pb in p.values()]
            qa = next((i for i, p in enumerate(people) if p.get(ja) == pa), None)
            qb = next((i for i, p in enumerate(people) if p.get(jb) == pb), None)
            assert len(owners) <= 2
            if qa is None and qb is None:
                people.append({ja: pa, jb: pb})
            elif qb is None:
                people[qa].setdefault(jb, pb)
            elif qa is None:
                people[qb].setdefault(ja, pa)
            elif qa != qb and not set(people[qa]) & set(people[qb]):
                keep, gone = min(qa, qb), max(qa, qb)
                people[keep].update(people[gone])
                people[gone] = {}
    result = []
    for p in people:
        if len(p) < min_parts:
            continue
        kp = np.zeros((k, 2))
        ks = np.zeros(k)
        for j, pid in p.items():
            kp[j] = peaks[pid][1:3]
            ks[j] = peaks[pid][3]
        result.append((kp, ks, ks.mean()))
    result.sort(key=lambda r: -r[2])
    return result


# ---------------------------------------------------------------------------- encode
def test_encode_equals_plain_loop_with_overlaps_and_mask():
    # two people whose joints and limbs overlap: shifted by 1.5 px, so Gaussians and fields meet
    turn = np.array([[np.cos(0.5), -np.sin(0.5)], [np.sin(0.5), np.cos(0.5)]])
    kp = np.stack([PERSON * 0.4 + [8, 3], PERSON @ turn.T * 0.4 + [9.5, 3.6]])
    vis = np.ones((2, 17), bool)
    vis[1, 3] = False  # an unlabelled ear: no peak, no limb field
    size = (18, 20)
    ignore = [(14.2, 1.0, 19.0, 6.5)]
    maps, fields, mask = encode(torch.as_tensor(kp), torch.as_tensor(vis), size, sigma=1.3, limb_width=1.0,
                                ignore_boxes=np.array(ignore))
    ref_maps, ref_fields, ref_mask = plain_encode(kp, vis, size, 1.3, 1.0, LIMBS, ignore)
    assert maps.dtype == np.float32 and maps.shape == (18, *size) and fields.shape == (2 * len(LIMBS), *size)
    np.testing.assert_allclose(maps, ref_maps, atol=1e-6)
    np.testing.assert_allclose(fields, ref_fields, atol=1e-6)
    np.testing.assert_array_equal(mask, ref_mask)
    # the overlap really exercised max-not-average and field averaging
    g0 = np.exp(-((np.arange(20)[None] - kp[0, 0, 0]) ** 2 + (np.arange(18)[:, None] - kp[0, 0, 1]) ** 2) / 1.3**2)
    g1 = np.exp(-((np.arange(20)[None] - kp[1, 0, 0]) ** 2 + (np.arange(18)[:, None] - kp[1, 0, 1]) ** 2) / 1.3**2)
    assert np.abs(maps[0] - np.maximum(g0, g1)).max() < 1e-6 and np.abs(maps[0] - (g0 + g1) / 2).max() > 0.1
    norms = np.hypot(fields[0::2], fields[1::2])
    assert ((norms > 1e-3) & (norms < 0.999)).any()  # two non-parallel unit vectors averaged
    assert mask.min() == 0.0 and mask.max() == 1.0


def test_encode_without_people_is_background_only():
    maps, fields, mask = encode(np.zeros((0, 17, 2)), np.zeros((0, 17)), (5, 6))
    assert np.all(maps[:17] == 0) and np.all(maps[17] == 1) and np.all(fields == 0) and np.all(mask == 1)


# ---------------------------------------------------------------------------- greedy matching
def test_greedy_match_equals_brute_force_lexicographic_optimum():
    rng = np.random.default_rng(3)
    for _ in range(40):
        a, b = rng.integers(1, 5, size=2)
        s = rng.normal(size=(a, b))
        s[rng.random((a, b)) < 0.3] = -np.inf
        got = greedy_match(s)
        # brute force: every matching (row -> column or none); the greedy one is the matching
        # whose scores, sorted decreasingly, are lexicographically largest (scores are distinct)
        best = None
        for cols in itertools.product(*[[None, *range(b)]] * a):
            used = [c for c in cols if c is not None]
            if len(used) != len(set(used)) or any(c is not None and not np.isfinite(s[r, c]) for r, c in enumerate(cols)):
                continue
            key = sorted((s[r, c] for r, c in enumerate(cols) if c is not None), reverse=True)
            if best is None or key > best[0]:
                best = (key, {(r, c) for r, c in enumerate(cols) if c is not None})
        assert {(r, c) for r, c, _ in got} == best[1]
        assert [e for _, _, e in got] == best[0]


# ---------------------------------------------------------------------------- decode
def _random_scene(rng, n, size, spacing=18):
    h, w = size
    slots = [(x, y) for y in range(4, h - 36, 40) for x in range(8, w - 8, spacing)]
    pick = rng.choice(len(slots), size=n, replace=False)
    people = []
    for i in pick:
        x, y = slots[i]
        jitter = rng.uniform(-0.4, 0.4, size=PERSON.shape)
        people.append(PERSON * rng.uniform(0.9, 1.0) + jitter + [x + rng.uniform(0, 2), y + 2 + rng.uniform(0, 2)])
    return np.stack(people)


def _match_people(found, truth, tol):
    """Each true person matched to the found person nearest in mean joint distance; all joints within tol."""
    assert found.shape == truth.shape
    for t in truth:
        d = np.linalg.norm(found - t[None], axis=-1)  # (P,K)
        best = int(np.argmin(d.mean(axis=1)))
        assert d[best].max() <= tol, f"joint off by {d[best].max():.3f} px"
    # one-to-one
    assign = [int(np.argmin(np.linalg.norm(found - t[None], axis=-1).mean(axis=1))) for t in truth]
    assert len(set(assign)) == len(truth)


def test_decode_of_encode_recovers_ten_random_people():
    rng = np.random.default_rng(7)
    size = (84, 200)
    truth = _random_scene(rng, 10, size)
    maps, fields, _ = encode(truth, np.ones(truth.shape[:2]), size)
    kp, ks, ps = decode(torch.as_tensor(maps), fields)
    assert kp.shape == (10, 17, 2) and ks.shape == (10, 17) and ps.shape == (10,)
    _match_people(kp, truth, 0.5)
    assert np.all(ks > 0.6) and np.all(np.diff(ps) <= 0)


def test_decode_assembles_two_people_whose_arms_cross():
    a = PERSON + [20, 4]
    b = PERSON + [31, 4]
    # a's right arm reaches right across b's left arm (b's left arm reaches left): forearms cross
    a[8], a[10] = [27, 11], [36, 14]  # right elbow, right wrist of a (joint 8 = right_elbow: "-x" side)
    b[7], b[9] = [24, 11], [15, 14]
    truth = np.stack([a, b])
    maps, fields, _ = encode(truth, np.ones((2, 17)), (44, 56))
    kp, _, _ = decode(maps, fields)
    assert kp.shape == (2, 17, 2)
    _match_people(kp, truth, 0.5)
    # the crossing forearms kept their owners
    for t in truth:
        p = kp[np.argmin(np.linalg.norm(kp - t, axis=-1).mean(axis=1))]
        np.testing.assert_allclose(p[[7, 8, 9, 10]], t[[7, 8, 9, 10]], atol=0.5)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_decode_equals_plain_loop_on_noisy_fields(seed):
    rng = np.random.default_rng(seed)
    size = (40, 60)
    truth = np.stack([PERSON * 0.9 + [14, 3], PERSON * 0.8 + [36, 5], PERSON * 0.7 + [50, 8]])
    maps, fields, _ = encode(truth, rng.random((3, 17)) > 0.1, size)
    spurious = encode(rng.uniform([0, 0], [60, 40], size=(3, 17, 2)), np.ones((3, 17)), size)[0]
    maps = np.maximum(maps, 0.6 * spurious).astype(np.float32)  # three false peaks per joint
    maps[17] = 1 - maps[:17].max(axis=0)
    fields = (fields + rng.normal(0, 0.3, fields.shape)).astype(np.float32)
    kp, ks, ps = decode(maps, fields)
    ref = plain_associate(maps, fields.astype(np.float64), LIMBS)
    assert len(ref) == len(kp) and len(ref) >= 2
    for (rk, rs, rp), k_, s_, p_ in zip(ref, kp, ks, ps):
        np.testing.assert_allclose(k_, rk, atol=1e-4)
        np.testing.assert_allclose(s_, rs, atol=1e-6)
        assert p_ == pytest.approx(rp, abs=1e-6)


def test_decode_without_peaks_returns_empty_arrays():
    maps, fields, _ = encode(np.zeros((0, 17, 2)), np.zeros((0, 17)), (6, 8))
    kp, ks, ps = decode(maps, fields)
    assert kp.shape == (0, 17, 2) and ks.shape == (0, 17) and ps.shape == (0,)
    one = np.zeros_like(maps)
    one[0, 2, 3] = 0.9  # a lone nose: a peak but no person of min_parts joints
    kp, ks, ps = decode(one, fields)
    assert kp.shape == (0, 17, 2) and ps.shape == (0,)
    kp, ks, ps = decode(one, fields, min_parts=1)
    assert kp.shape == (0, 17, 2)  # a person needs a connection: a single peak forms none


def test_limbs_are_the_coco_skeleton_plus_nose_shoulders():
    assert LIMBS[:19] == tuple(COCO_SKELETON) and LIMBS[19:] == ((0, 5), (0, 6))
