"""How well do appearance embeddings pooled from the SPPE's trunk tell people apart? (docs/tracking.md)

For synthetic ``crowd`` and ``crossing`` videos (``rmpe-synth --video``; the mp4 is read back, as
a user's video would be), every simulated detection that survives box NMS is labelled with the true
person it overlaps (IoU >= 0.5, only the best detection per person and frame, as the tracking
ceiling does) and its crop goes through the SPPE of a checkpoint once; forward hooks keep the
four trunk stages' maps (ResNet ``layer1``..``layer4``, strides 4, 8, 16, 32). From those maps,
candidate embeddings that cost nothing extra (pooling and a few small vector operations) are
built, and for each the cosine distance of every pair of labelled detections is split into

* ``same``: the same person at least ``--min-gap`` frames apart (re-identification, not tracking
  from one frame to the next);
* ``reentry``: the same person in two different visible runs (left the frame and came back: what
  the tracker has to re-identify; ``crowd`` only);
* ``diff``: two different people (any frames).

Reported per embedding: median distances and the ROC AUC of telling ``same`` (and ``reentry``)
from ``diff`` (AUC = P(d_diff > d_same), 1 is perfect, 0.5 is chance), with three ways of
centring the embedding before the cosine: none, the video's own mean (what a running mean inside
the tracker converges to), and the mean of another video (a fixed per-channel mean).

Candidates (``s1..s4`` = stages 1..4, ``gap`` = average over the map, ``ud`` = upper and lower
halves of the map averaged separately and concatenated, ``norm`` = each part L2-normalised before
concatenation):

    python benchmarks/bench_appearance.py                       # crowd + crossing, seeds 0 and 1, 30 s
    python benchmarks/bench_appearance.py --checkpoint FILE --json out.json
"""
from __future__ import annotations

import os
import sys

if "--threads" in sys.argv:  # before numpy and torch load their thread pools
    _t = sys.argv[sys.argv.index("--threads") + 1]
    for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[_v] = _t

import argparse  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Callable, Dict, List  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_tracking import (DEFAULT_CHECKPOINT, ROOT, box_nms, ceiling_ids, load_sppe, load_video,  # noqa: E402
                            make_video, sppe_on_video)


def _gap(m: np.ndarray) -> np.ndarray:
    return m.mean(axis=(2, 3))


def _ud(m: np.ndarray) -> List[np.ndarray]:
    h = m.shape[2] // 2
    return [m[:, :, :h].mean(axis=(2, 3)), m[:, :, h:].mean(axis=(2, 3))]


def _l2(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def _cat(parts: List[np.ndarray], norm: bool) -> np.ndarray:
    return np.concatenate([_l2(p) if norm else p for p in parts], axis=1)


def _pool2(x: np.ndarray, f: int) -> np.ndarray:
    """Average-pool (N, C, H, W) by an integer factor f."""
    n, c, h, w = x.shape
    return x[:, :, :h - h % f, :w - w % f].reshape(n, c, h // f, f, w // f, f).mean(axis=(3, 5))


#: keypoint groups of the part-weighted pooling (COCO order): head, arms and shoulders, hips and legs
PARTS = {"head": [0, 1, 2, 3, 4], "upper": [5, 6, 7, 8, 9, 10], "lower": [11, 12, 13, 14, 15, 16]}
PARTS3 = {"torso": [5, 6, 11, 12], "arms": [7, 8, 9, 10], "legs": [13, 14, 15, 16]}


def _parts(m: np.ndarray, hm: np.ndarray, parts=PARTS) -> List[np.ndarray]:
    """Map ``m`` (N, C, h', w') pooled with the weights of each part's heatmaps (clamped at 0, summed over
    the part's keypoints, average-pooled to the map's size, normalised to sum 1) -> one (N, C) per part."""
    f = hm.shape[2] // m.shape[2]
    w = np.clip(hm, 0, None)
    if f > 1:
        w = _pool2(w, f)
    elif f < 1 or m.shape[2] > hm.shape[2]:
        raise ValueError("map finer than the heatmaps")
    out = []
    for idx in parts.values():
        wp = w[:, idx].sum(axis=1)  # (N, h', w')
        wp = wp / np.maximum(wp.sum(axis=(1, 2), keepdims=True), 1e-12)
        out.append(np.einsum("nchw,nhw->nc", m, wp))
    return out


#: name -> embedding of the four stage maps {1: (N, C1, h1, w1), ..., 4: ...} -> (N, F)
CANDIDATES: Dict[str, Callable[[Dict[int, np.ndarray]], np.ndarray]] = {
    "s4 gap (today)": lambda m: _gap(m[4]),
    "s3 gap": lambda m: _gap(m[3]),
    "s2 gap": lambda m: _gap(m[2]),
    "s1 gap": lambda m: _gap(m[1]),
    "s1-4 gap concat": lambda m: _cat([_gap(m[s]) for s in (1, 2, 3, 4)], False),
    "s1-4 gap norm": lambda m: _cat([_gap(m[s]) for s in (1, 2, 3, 4)], True),
    "s1 ud norm": lambda m: _cat(_ud(m[1]), True),
    "s2 ud norm": lambda m: _cat(_ud(m[2]), True),
    "s1-2 ud norm": lambda m: _cat(_ud(m[1]) + _ud(m[2]), True),
    "s1-3 ud norm": lambda m: _cat(_ud(m[1]) + _ud(m[2]) + _ud(m[3]), True),
    "s1-4 ud norm": lambda m: _cat([p for s in (1, 2, 3, 4) for p in _ud(m[s])], True),
    "s1 parts norm": lambda m: _cat(_parts(m[1], m["hm"]), True),
    "s1 parts3 norm": lambda m: _cat(_parts(m[1], m["hm"], PARTS3), True),
    "s2 parts norm": lambda m: _cat(_parts(m[2], m["hm"]), True),
    "s1-2 parts norm": lambda m: _cat(_parts(m[1], m["hm"]) + _parts(m[2], m["hm"]), True),
    "s1-3 parts norm": lambda m: _cat(_parts(m[1], m["hm"]) + _parts(m[2], m["hm"]) + _parts(m[3], m["hm"]), True),
    "s1 per-keypoint norm": lambda m: _cat(_parts(m[1], m["hm"], {k: [k] for k in range(17)}), True),
    "input colour parts": lambda m: _cat(_parts(m[0], m["hm"]), False),
    "input colour + s1 parts norm": lambda m: _cat(_parts(m[0], m["hm"]) + _parts(m[1], m["hm"]), True),
}
CENTRING = ("none", "video mean", "other video's mean")


def stage_maps(model, mp4: Path, boxes_per_frame):
    """The SPPE's four trunk stage maps per labelled detection (hooks on ``sppe.preact.layer1..4``)."""
    trunk = model.sppe.preact
    got: Dict[object, list] = {s: [] for s in (0, 1, 2, 3, 4, "hm")}
    handles = [getattr(trunk, f"layer{s}").register_forward_hook(
        lambda mod, inp, out, s=s: got[s].append(out.detach().double().numpy())) for s in (1, 2, 3, 4)]
    # the normalised crop' (pooled to the heatmaps' size) and the heatmaps
    handles.append(trunk.register_forward_pre_hook(
        lambda mod, inp: got[0].append(_pool2(inp[0].detach().double().numpy(), 4))))
    handles.append(model.sppe.conv_out.register_forward_hook(
        lambda mod, inp, out: got["hm"].append(out.detach().double().numpy())))
    try:
        outputs = sppe_on_video(model, mp4, boxes_per_frame)
    finally:
        for h in handles:
            h.remove()
    maps = {s: np.concatenate(v) for s, v in got.items()}
    feats = np.concatenate([o[2] for o in outputs if o[2] is not None])
    return maps, feats


def video_samples(model, work: Path, scenario: str, seed: int, args):
    """Labelled detections of one video: stage maps, forward_features, person, frame and visible-run number."""
    stem = make_video(work, scenario, seed, args.seconds, args.people, args.fps, (640, 480), keep_video=True)
    frames = load_video(stem)
    boxes, person, frame_of, run_of = [], [], [], []
    runs: Dict[int, int] = {}
    present: set = set()
    for t, (gt, db, ds) in enumerate(frames):
        now = {int(i) for i in gt.ids}
        for i in now - present:
            runs[i] = runs.get(i, -1) + 1
        present = now
        keep = box_nms(db, ds)
        db = db[keep]
        ids = ceiling_ids(db, gt)
        lab = ids >= 0
        boxes.append(db[lab])
        person += [int(i) for i in ids[lab]]
        frame_of += [t] * int(lab.sum())
        run_of += [runs[int(i)] for i in ids[lab]]
    maps, feats = stage_maps(model, Path(str(stem) + ".mp4"), boxes)
    return dict(maps=maps, feats=feats, person=np.array(person), frame=np.array(frame_of), run=np.array(run_of))


def auc(pos: np.ndarray, neg: np.ndarray) -> float:
    """P(neg > pos) + 0.5 P(tie): ROC AUC of separating small ``pos`` distances from large ``neg`` ones."""
    from scipy.stats import rankdata

    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    r = rankdata(np.concatenate([pos, neg]))
    return float((r[len(pos):].sum() - len(neg) * (len(neg) + 1) / 2) / (len(pos) * len(neg)))


def pair_stats(emb: np.ndarray, sample: dict, min_gap: int) -> dict:
    e = _l2(emb)
    d = np.clip(1.0 - e @ e.T, 0.0, 2.0)
    p, f, r = sample["person"], sample["frame"], sample["run"]
    iu = np.triu_indices(len(p), 1)
    same_p = p[iu[0]] == p[iu[1]]
    gap = np.abs(f[iu[0]] - f[iu[1]])
    dist = d[iu]
    same = dist[same_p & (gap >= min_gap)]
    reentry = dist[same_p & (r[iu[0]] != r[iu[1]])]
    diff = dist[~same_p]
    return {"same": same, "reentry": reentry, "diff": diff}


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT))
    ap.add_argument("--scenarios", default="crowd,crossing")
    ap.add_argument("--seeds", default="0,1")
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--fps", type=float, default=10.0)
    ap.add_argument("--people", type=int, default=6)
    ap.add_argument("--min-gap", type=int, default=20, help="frames between same-person pairs")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--work", default=str(ROOT / "work_dirs" / "bench_tracking"))
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    model = load_sppe(Path(args.checkpoint))
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    videos = [(sc, int(s)) for sc in args.scenarios.split(",") if sc for s in args.seeds.split(",") if s]
    samples = {}
    for sc, seed in videos:
        t0 = time.perf_counter()
        samples[(sc, seed)] = video_samples(model, work, sc, seed, args)
        print(f"{sc} seed {seed}: {len(samples[(sc, seed)]['person'])} labelled detections "
              f"({time.perf_counter() - t0:.1f} s)", file=sys.stderr)
    # forward_features must be what the hooks give for the candidate it implements
    results = {}
    for name, fn in list(CANDIDATES.items()) + [("forward_features (this checkout)", None)]:
        embs = {v: (fn(s["maps"]) if fn else s["feats"]) for v, s in samples.items()}
        for centring in CENTRING:
            pooled = {"same": [], "reentry": [], "diff": [], "auc_same": [], "auc_reentry": []}
            for i, v in enumerate(videos):
                e = embs[v]
                if centring == "video mean":
                    e = e - e.mean(axis=0)
                elif centring == "other video's mean":
                    other = videos[(i + 1) % len(videos)]
                    e = e - embs[other].mean(axis=0)
                st = pair_stats(e, samples[v], args.min_gap)
                pooled["auc_same"].append(auc(st["same"], st["diff"]))
                pooled["auc_reentry"].append(auc(st["reentry"], st["diff"]))
                for key in ("same", "reentry", "diff"):
                    pooled[key].append(st[key])
            row = {
                "median_same": float(np.median(np.concatenate(pooled["same"]))),
                "median_reentry": float(np.median(np.concatenate(pooled["reentry"]))) if sum(
                    len(x) for x in pooled["reentry"]) else float("nan"),
                "median_diff": float(np.median(np.concatenate(pooled["diff"]))),
                "auc_same": float(np.mean(pooled["auc_same"])),
                "auc_reentry": float(np.nanmean(pooled["auc_reentry"])) if not all(
                    np.isnan(pooled["auc_reentry"])) else float("nan"),
                "auc_same_per_video": pooled["auc_same"],
                "dim": int(next(iter(embs.values())).shape[1]),
            }
            results[(name, centring)] = row
    print(f"Command: python benchmarks/bench_appearance.py {' '.join(argv)}".rstrip())
    print(f"Checkpoint: {args.checkpoint}; videos: {', '.join(f'{sc} seed {s}' for sc, s in videos)} "
          f"({args.seconds:g} s at {args.fps:g} fps, {args.people} people, 640x480); same-person pairs "
          f">= {args.min_gap} frames apart; AUC: mean over the videos (re-entry: crowd videos only)")
    print()
    print("| embedding | dim | centring | median d same | median d re-entry | median d diff | AUC same "
          "| AUC re-entry |")
    print("|---|---:|---|---:|---:|---:|---:|---:|")
    for (name, centring), r in results.items():
        print(f"| {name} | {r['dim']} | {centring} | {r['median_same']:.3f} | {r['median_reentry']:.3f} | "
              f"{r['median_diff']:.3f} | {r['auc_same']:.3f} | {r['auc_reentry']:.3f} |")
    if args.json:
        from rmpe.io import atomic_write_json

        atomic_write_json(args.json, {f"{n} | {c}": r for (n, c), r in results.items()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
