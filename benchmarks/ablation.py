"""Does RMPE help? The paper's ablation on the crowd world, with bootstrap confidence intervals.

Usage::

    python benchmarks/ablation.py [--quick] [--seeds 0 1] [--variants plain sstn pgpg jitter full]
        [--work work_dirs/ablation] [--out benchmarks/ablation] [--quiet]

One command, resumable: every step's output is cached under ``--work`` with a stamp of its
settings, and a rerun skips what is done (an interrupted training resumes from its
``last.pth``). Steps, all through rmpe's own entry points:

1. ``rmpe-synth`` (:func:`rmpe.data.synthetic.generate_dataset`): the crowd world of
   ``configs/synthetic/crowd.yaml`` (its calibrated simulated detector included), three
   disjoint splits: ``train``, ``tune`` (searches the pose-NMS constants) and ``test``;
2. ``rmpe-pgpg fit`` (:func:`rmpe.cli.pgpg.main`) on the training split's detections: the PGPG
   model (8 atomic poses, 2 Gaussians each), and the same fit with one atom and one Gaussian,
   i.e. pose-blind random jitter with exactly the mean and covariance of the detector's
   offsets (the "random jittering of the same magnitude");
3. ``rmpe-train`` (:func:`rmpe.train.train`), no validation (the last checkpoint is evaluated,
   so no split is used twice), in two stages as RMPE trains: per seed one ``base`` SPPE on
   ground-truth boxes (plain crops), then every variant starts from that seed's base
   (``model.init_from``) and trains on with its own switches for the same number of steps.
   The base is what makes the parallel SPPE meaningful: it is a frozen copy of a trained
   SPPE, as in the paper; from scratch it would be a copy of a random network. Variants:

   =========  ====================================================================
   ``plain``  plain crops, ground-truth boxes (with the config's scale jitter)
   ``sstn``   + the symmetric STN with the parallel SPPE
   ``pgpg``   + PGPG proposals (no STN)
   ``jitter`` PGPG replaced by pose-blind random jitter of the same magnitude (no STN)
   ``full``   STN + parallel SPPE + PGPG
   =========  ====================================================================

4. ``rmpe-eval`` (:func:`rmpe.eval_runner.evaluate_model`) of every model on the test split
   with the simulated detector's boxes and each NMS: ``none``, ``oks``, ``parametric``
   (AlphaPose's constants) and ``tuned`` (parametric with constants searched by
   :func:`rmpe.eval_runner.tune_pose_nms` on the tune split, per model);
5. statistics (:mod:`rmpe.evaluation_bootstrap`): AP per model with a 95 % bootstrap interval
   over test images, per seed and pooled over seeds; each component's effect as a paired
   difference on the same resamples.

Writes ``--out/results.json`` (``variants``: ``name``, ``seed`` (an int, or ``"pooled"``),
``nms``, ``ap``, ``ci``; ``effects``: ``component``, ``seed``, ``delta``, ``ci``, and which
two settings were compared) and ``--out/ablation.png``, and prints the tables. ``--quick``
runs the whole chain on a tiny world in about a minute (the test suite's smoke test); its
results go to ``--work/quick`` unless ``--out`` is given. Method: docs/ablation.md.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, ROOT)

from rmpe.config import Config, as_config, load_config  # noqa: E402
from rmpe.io import atomic_write_json  # noqa: E402

CROWD = os.path.join(ROOT, "configs", "synthetic", "crowd.yaml")

#: name -> (STN on, proposals: "gt", "pgpg" or "jitter")
VARIANTS: Dict[str, Tuple[bool, str]] = {
    "plain": (False, "gt"),
    "sstn": (True, "gt"),
    "pgpg": (False, "pgpg"),
    "jitter": (False, "jitter"),
    "full": (True, "pgpg"),
}
NMS = ("none", "oks", "parametric", "tuned")

#: component -> ((variant, nms) with it, (variant, nms) without it). The paper removes one
#: component at a time from the full system; the ``_alone`` rows add one to the plain model.
EFFECTS: Dict[str, Tuple[Tuple[str, str], Tuple[str, str]]] = {
    "sstn": (("full", "parametric"), ("pgpg", "parametric")),
    "pgpg": (("full", "parametric"), ("sstn", "parametric")),
    "pgpg_vs_random_jitter": (("pgpg", "parametric"), ("jitter", "parametric")),
    "parametric_nms": (("full", "parametric"), ("full", "none")),
    "parametric_vs_oks_nms": (("full", "parametric"), ("full", "oks")),
    "tuned_nms_constants": (("full", "tuned"), ("full", "parametric")),
    "sstn_alone": (("sstn", "parametric"), ("plain", "parametric")),
    "pgpg_alone": (("pgpg", "parametric"), ("plain", "parametric")),
    "full_system": (("full", "parametric"), ("plain", "none")),
}


@dataclass(frozen=True)
class Plan:
    """The sizes of one ablation run."""

    train_images: int
    tune_images: int
    test_images: int
    base_epochs: int  #: the shared base SPPE per seed (plain crops, ground truth), constant rate
    epochs: int  #: each variant's own training from the base
    lr_steps: Tuple[int, ...]  #: of the variants' training
    max_samples: Optional[int]
    bootstrap: int
    pgpg_k: int
    pgpg_min_samples: int


#: Sized for 90 minutes on the project's 2-core CPU (docs/ablation.md, "Sizes and time"): 800
#: training images (about 4000 people); per seed a base of 3 epochs, then 2 epochs per variant
#: (the rate divided by 10 for the second), so every model has seen 5 epochs (~1300 steps of
#: 16); ~40 samples/s for the plain models and ~28 for the STN ones on an idle machine, and
#: per model about a minute of evaluation (one network pass over the test and tune splits,
#: the four NMS choices reusing the test pass).
FULL = Plan(train_images=800, tune_images=60, test_images=120, base_epochs=3, epochs=2, lr_steps=(1,),
            max_samples=None, bootstrap=1000, pgpg_k=8, pgpg_min_samples=30)
QUICK = Plan(train_images=12, tune_images=3, test_images=5, base_epochs=1, epochs=1, lr_steps=(), max_samples=32,
             bootstrap=200, pgpg_k=2, pgpg_min_samples=5)
#: data set seeds of the three splits (disjoint images)
SPLIT_SEEDS = {"train": 1800, "tune": 1801, "test": 1802}


# ---------------------------------------------------------------------------- caching


def _stamp_path(path: str) -> str:
    return path + ".stamp.json"


def is_done(path: str, stamp: Dict[str, Any]) -> bool:
    """True when ``path`` exists and was made with exactly ``stamp``'s settings."""
    try:
        with open(_stamp_path(path), "r", encoding="utf-8") as fh:
            return os.path.exists(path) and json.load(fh) == json.loads(json.dumps(stamp))
    except (OSError, ValueError):
        return False


def mark_done(path: str, stamp: Dict[str, Any]) -> None:
    atomic_write_json(_stamp_path(path), stamp)


# ---------------------------------------------------------------------------- steps


def make_split(work: str, split: str, n: int, base: Config) -> Dict[str, str]:
    """rmpe-synth one split of the crowd world (cached)."""
    from rmpe.data.synthetic import generate_dataset

    out = os.path.join(work, "data", split)
    paths = {"ann": os.path.join(out, "annotations.json"), "images": os.path.join(out, "images"),
             "dets": os.path.join(out, "detections.json")}
    stamp = {"images": n, "seed": SPLIT_SEEDS[split], "world": base.synthetic.to_dict()}
    if not is_done(paths["dets"], stamp):
        generate_dataset(out, n, seed=SPLIT_SEEDS[split], config=base.synthetic, workers=1)
        mark_done(paths["dets"], stamp)
    return paths


def fit_proposals(work: str, train: Dict[str, str], plan: Plan) -> Dict[str, str]:
    """rmpe-pgpg fit: the PGPG model and the pose-blind jitter of the same magnitude (cached)."""
    from rmpe.cli.pgpg import main as pgpg_main

    out = {"pgpg": os.path.join(work, "proposals", "pgpg.npz"), "jitter": os.path.join(work, "proposals", "jitter.npz")}
    os.makedirs(os.path.dirname(out["pgpg"]), exist_ok=True)
    settings = {"pgpg": ["--k", str(plan.pgpg_k), "--components", "2"], "jitter": ["--k", "1", "--components", "1"]}
    for name, path in out.items():
        args = ["fit", "--ann", train["ann"], "--dets", train["dets"], "--out", path,
                "--min-samples", str(plan.pgpg_min_samples), "--seed", "0", *settings[name]]
        stamp = {"args": args[:1] + args[7:], "data": _stamp_of(train["dets"])}
        if not is_done(path, stamp):
            with open(os.devnull, "w") as sink:
                saved, sys.stdout = sys.stdout, sink
                try:
                    code = pgpg_main(args)
                finally:
                    sys.stdout = saved
            if code:
                raise SystemExit(f"ablation: rmpe-pgpg fit failed for {name} (exit status {code})")
            mark_done(path, stamp)
    return out


def _stamp_of(path: str) -> Any:
    try:
        with open(_stamp_path(path), "r", encoding="utf-8") as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return None


def base_config(base: Config, seed: int, plan: Plan, data: Dict[str, Dict[str, str]], device: str = "cpu") -> Config:
    """The shared base SPPE of one seed: plain crops on ground-truth boxes, ``base_epochs`` at
    the recipe's rate (no drop: the variants go on from it)."""
    return as_config(base, [
        f"data.train_ann={data['train']['ann']}", f"data.train_images={data['train']['images']}",
        "data.val_ann=null", "data.val_images=null", "model.stn=false", "model.init_from=null",
        f"train.seed={seed}", f"train.epochs={plan.base_epochs}", "train.lr_steps=[]",
        f"train.max_samples={'null' if plan.max_samples is None else plan.max_samples}",
        "train.proposals.type=gt", f"device={device}",
    ])


def variant_config(base: Config, variant: str, seed: int, plan: Plan, data: Dict[str, Dict[str, str]],
                   proposals: Dict[str, str], device: str = "cpu", init_from: Optional[str] = None) -> Config:
    """The crowd config with one variant's training switches, data paths and sizes, starting
    from the seed's base SPPE ``init_from`` (None: from scratch)."""
    stn, kind = VARIANTS[variant]
    sets = [
        f"data.train_ann={data['train']['ann']}", f"data.train_images={data['train']['images']}",
        "data.val_ann=null", "data.val_images=null",
        f"model.stn={'true' if stn else 'false'}",
        f"model.init_from={init_from if init_from else 'null'}",
        f"train.seed={seed}", f"train.epochs={plan.epochs}", f"train.lr_steps={list(plan.lr_steps)}",
        f"train.max_samples={'null' if plan.max_samples is None else plan.max_samples}",
        f"device={device}",
    ]
    if kind == "gt":
        sets += ["train.proposals.type=gt"]
    else:
        sets += ["train.proposals.type=pgpg", f"train.proposals.model={proposals[kind]}"]
    return as_config(base, sets)


def train_variant(work: str, variant: str, seed: int, config: Config, quiet: bool) -> str:
    """rmpe-train one (variant, seed), or the seed's ``base`` (cached; an interrupted run
    resumes; a retrained base retrains what starts from it). Returns last.pth."""
    from rmpe.train import train

    workdir = os.path.join(work, "train", f"{variant}_s{seed}")
    last = os.path.join(workdir, "last.pth")
    init = config.model.init_from
    stamp = {"config": config.to_dict(), "init": _stamp_of(init) if init else None}
    if is_done(last, stamp):
        return last
    resume = os.path.exists(last) and _stamp_of(os.path.join(workdir, "started")) == json.loads(json.dumps(stamp))
    if not resume and os.path.isdir(workdir):
        import shutil

        shutil.rmtree(workdir)
    os.makedirs(workdir, exist_ok=True)
    mark_done(os.path.join(workdir, "started"), stamp)
    summary = train(config, workdir, resume=resume, quiet=quiet)
    if summary.stopped_early:
        raise SystemExit(f"ablation: training {variant} seed {seed} stopped early ({summary.stop_reason}); rerun to resume")
    mark_done(last, stamp)
    return last


class MemoModel:
    """A pose model that remembers its answers: the same images and boxes give the stored keypoints.

    The four NMS choices run the same pipeline over the same test images and boxes and differ
    only after the network, so the network runs once per image batch; the pipeline, the
    decoding, the NMS and the scoring all run as in ``rmpe-eval``. Exact: the key is a hash
    of every input (image pixels, boxes, options), and the stored tensors are returned.
    """

    def __init__(self, model: Any) -> None:
        self.model = model
        self.memo: Dict[str, Any] = {}
        self.calls = 0
        self.hits = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.__dict__["model"], name)

    def predict(self, images: Any, image_index: Any, boxes: Any, **options: Any) -> Any:
        import hashlib

        import torch

        h = hashlib.sha1()
        for t in (images, image_index, boxes):
            t = t if isinstance(t, torch.Tensor) else torch.as_tensor(t)
            h.update(str((t.dtype, tuple(t.shape))).encode())
            h.update(t.detach().cpu().contiguous().numpy().tobytes())
        h.update(repr(sorted(options.items())).encode())
        key = h.hexdigest()
        self.calls += 1
        if key not in self.memo:
            self.memo[key] = self.model.predict(images, image_index, boxes, **options)
        else:
            self.hits += 1
        return tuple(t.clone() for t in self.memo[key])  # the caller may change its copy in place


def evaluate_variant(work: str, variant: str, seed: int, config: Config, checkpoint: str,
                     data: Dict[str, Dict[str, str]], quiet: bool) -> Dict[str, str]:
    """rmpe-eval of one model with every NMS choice on the test split (cached). Returns nms -> results."""
    from rmpe.eval_runner import evaluate_model, tune_pose_nms
    from rmpe.distributed import resolve_device
    from rmpe.pipeline import load_model

    out_dir = os.path.join(work, "eval", f"{variant}_s{seed}")
    os.makedirs(out_dir, exist_ok=True)
    test, tune = data["test"], data["tune"]
    ckpt_stamp = _stamp_of(checkpoint)
    log = (lambda _msg: None) if quiet else (lambda msg: print(msg, file=sys.stderr))
    tuned_yaml = os.path.join(out_dir, "pose_nms_tuned.yaml")
    tune_stamp = {"checkpoint": ckpt_stamp, "tune": _stamp_of(tune["dets"])}
    if not is_done(tuned_yaml, tune_stamp):
        tune_pose_nms(config, out_yaml=tuned_yaml, progress=not quiet, log=log, ann=tune["ann"],
                      images=tune["images"], boxes=tune["dets"], checkpoint=checkpoint)
        mark_done(tuned_yaml, tune_stamp)
    results = {}
    model = None
    for nms in NMS:
        path = os.path.join(out_dir, f"{nms}.json")
        stamp = {"checkpoint": ckpt_stamp, "test": _stamp_of(test["dets"]), "nms": nms,
                 "tuned": _stamp_of(tuned_yaml) if nms == "tuned" else None}
        if not is_done(path, stamp):
            cfg = as_config(config, [f"pose_nms.params_file={tuned_yaml}"]) if nms == "tuned" else config
            if model is None:
                model = MemoModel(load_model(config, checkpoint, resolve_device(config.device)))
            evaluate_model(cfg, out=path, progress=not quiet, log=log, ann=test["ann"], images=test["images"],
                           boxes=test["dets"], model=model, nms="parametric" if nms == "tuned" else nms)
            mark_done(path, stamp)
        results[nms] = path
    return results


def stn_motion(config: Config, checkpoint: str, data: Dict[str, str], max_images: int = 40) -> Dict[str, Any]:
    """How far, and how sensibly, a trained STN moves its crops (the honesty rule's "does the
    STN move at all?").

    Runs the model on the first ``max_images`` test images with the detector's boxes and
    records every theta (crop' px -> crop px). Per crop: the mean displacement of a 9x9 grid
    of crop' points under theta (input px; an idle STN gives ~0), and where crop''s centre
    is taken from, against where the box's best-overlapping true person's box centre lies
    in the crop (both in input px from the crop centre; boxes with IoU >= 0.5 to a person). An STN that re-centres people
    follows the box errors (correlation near 1); one that learned a fixed transform gives a
    spread near 0 and no correlation.

    Returns:
        ``crops``, ``input_size`` (h, w); ``median_px`` / ``p90_px`` / ``max_px``: grid
        displacement over crops; ``centre_shift_std_px``: spread over crops of crop''s centre
        shift (x, y); ``box_error_std_px``: spread of the true centre's offset (x, y);
        ``corr``: correlation of the two (x, y); ``scale``: [10th, 50th, 90th] percentile of
        sqrt |det| of theta's 2x2 part (the zoom).
    """
    import cv2
    import numpy as np
    import torch

    from pgpg.matching import box_iou
    from rmpe.distributed import resolve_device
    from rmpe.geometry import crop_boxes, xywh_to_xyxy
    from rmpe.pipeline import load_model

    model = load_model(config, checkpoint, resolve_device(config.device))
    thetas: List[Any] = []
    original = model.predict_theta

    def recording(crops: Any) -> Any:
        theta = original(crops)
        thetas.append(theta.detach().cpu())
        return theta

    model.predict_theta = recording  # predict() looks the method up on the instance
    with open(data["ann"], "r", encoding="utf-8") as fh:
        ann = json.load(fh)
    images = sorted(ann["images"], key=lambda im: im["id"])[:max_images]
    with open(data["dets"], "r", encoding="utf-8") as fh:
        dets = json.load(fh)
    h, w = config.model.input_size
    offsets = []  # per image (N_b,2): true centre - box centre, input px (NaN: no true person)
    for im in images:
        as_boxes = lambda rows: xywh_to_xyxy(torch.tensor(rows, dtype=torch.float64).reshape(-1, 4))  # noqa: E731
        boxes = as_boxes([d["bbox"] for d in dets if d["image_id"] == im["id"]])
        truth = as_boxes([a["bbox"] for a in ann["annotations"] if a["image_id"] == im["id"]])
        if not len(boxes):
            continue
        frame = cv2.imread(os.path.join(data["images"], im["file_name"]))
        model.predict([frame], np.zeros(len(boxes), np.int64), boxes.float())
        crop = crop_boxes(boxes, config.data.aspect_ratio, config.data.box_scale).numpy()
        crop_w = crop[:, 2:3] - crop[:, 0:1]  # (N_b,1) the crop box's width in image px
        offset = np.full((len(boxes), 2), np.nan)
        if len(truth):
            iou = box_iou(boxes.numpy(), truth.numpy())  # (N_b, N_t)
            best = truth.numpy()[iou.argmax(axis=1)]
            centre = lambda b: (b[:, :2] + b[:, 2:]) / 2  # noqa: E731
            found = iou.max(axis=1) >= 0.5  # a false positive has no true centre
            offset[found] = ((centre(best) - centre(boxes.numpy())) * w / crop_w)[found]
        offsets.append(offset)
    theta = torch.cat(thetas).double()  # (N,3,3)
    ys, xs = torch.meshgrid(torch.linspace(0, h - 1, 9, dtype=torch.float64),
                            torch.linspace(0, w - 1, 9, dtype=torch.float64), indexing="ij")
    pts = torch.stack([xs.flatten(), ys.flatten(), torch.ones(81, dtype=torch.float64)])  # (3,81) crop' px
    shift = (theta @ pts)[:, :2].sub(pts[:2]).norm(dim=1).mean(dim=1)  # (N,) mean displacement per crop
    centre = torch.tensor([(w - 1) / 2, (h - 1) / 2, 1.0], dtype=torch.float64)
    moved = (theta @ centre)[:, :2].numpy() - centre[:2].numpy()  # (N,2): crop' centre taken from here
    err = np.concatenate(offsets)
    ok = np.isfinite(err).all(axis=1)
    corr = [float(np.corrcoef(moved[ok, i], err[ok, i])[0, 1]) if moved[ok, i].std() > 0 else 0.0 for i in (0, 1)]
    scale = theta[:, :2, :2].det().abs().sqrt()
    q = lambda t, p: round(float(torch.quantile(t, p)), 4)  # noqa: E731
    return {"crops": int(theta.shape[0]), "input_size": [int(h), int(w)], "median_px": q(shift, 0.5),
            "p90_px": q(shift, 0.9), "max_px": round(float(shift.max()), 4),
            "centre_shift_std_px": [round(float(v), 4) for v in moved.std(axis=0)],
            "box_error_std_px": [round(float(v), 4) for v in err[ok].std(axis=0)],
            "corr": [round(v, 3) for v in corr], "scale": [q(scale, 0.1), q(scale, 0.5), q(scale, 0.9)]}


# ---------------------------------------------------------------------------- statistics


def statistics(results: Dict[Tuple[str, int], Dict[str, str]], ann: str, num_samples: int,
               seed: int = 0) -> Dict[str, Any]:
    """Bootstrap APs and paired component effects from the results files.

    Args:
        results: (variant, seed) -> nms -> COCO keypoint results file on the test split.
        ann: the test split's annotations.
        num_samples: bootstrap resamples (shared by all models: differences are paired).

    Returns:
        ``{"variants": [...], "effects": [...]}`` as written to results.json.
    """
    from rmpe.evaluation_bootstrap import bootstrap, paired_interval, per_image_matches

    seeds = sorted({s for _, s in results})
    groups: Dict[str, List[Any]] = {}
    for (variant, s) in sorted(results, key=lambda k: (list(VARIANTS).index(k[0]), k[1])):
        for nms, path in results[(variant, s)].items():
            groups.setdefault(f"{variant}/{nms}", []).append(per_image_matches(path, ann))
    boot = bootstrap(groups, num_samples=num_samples, seed=seed)
    variants = []
    for key, entry in boot.items():
        name, nms = key.split("/")
        for s, one in zip(seeds, entry["seeds"]):
            variants.append({"name": name, "seed": s, "nms": nms, "ap": one["ap"], "ci": one["ci"]})
        variants.append({"name": name, "seed": "pooled", "nms": nms, "ap": entry["ap"], "ci": entry["ci"]})
    effects = []
    for component, (a, b) in EFFECTS.items():
        ka, kb = "/".join(a), "/".join(b)
        if ka not in boot or kb not in boot:
            continue
        for i, s in enumerate(seeds):
            d = paired_interval(boot[ka]["seeds"][i], boot[kb]["seeds"][i])
            effects.append({"component": component, "seed": s, "with": ka, "without": kb, **d})
        d = paired_interval(boot[ka], boot[kb])
        effects.append({"component": component, "seed": "pooled", "with": ka, "without": kb, **d})
    return {"variants": variants, "effects": effects}


def format_tables(stats: Dict[str, Any]) -> str:
    """The pooled AP table (variant x NMS) and the effects table, as Markdown."""
    pooled = {(r["name"], r["nms"]): r for r in stats["variants"] if r["seed"] == "pooled"}
    names = [v for v in VARIANTS if any((v, n) in pooled for n in NMS)]
    lines = ["| variant | " + " | ".join(f"NMS {n}" for n in NMS) + " |", "|---" * (len(NMS) + 1) + "|"]
    for v in names:
        cells = []
        for n in NMS:
            r = pooled.get((v, n))
            cells.append(f"{r['ap']:.3f} [{r['ci'][0]:.3f}, {r['ci'][1]:.3f}]" if r else "-")
        lines.append(f"| {v} | " + " | ".join(cells) + " |")
    lines += ["", "| component | with | without | delta AP (pooled) [95% CI] | per seed |", "|---|---|---|---|---|"]
    by = {}
    for e in stats["effects"]:
        by.setdefault(e["component"], []).append(e)
    for comp, rows in by.items():
        p = next(r for r in rows if r["seed"] == "pooled")
        per = ", ".join(f"s{r['seed']}: {r['delta']:+.3f}" for r in rows if r["seed"] != "pooled")
        lines.append(f"| {comp} | {p['with']} | {p['without']} | {p['delta']:+.3f} [{p['ci'][0]:+.3f}, "
                     f"{p['ci'][1]:+.3f}] | {per} |")
    return "\n".join(lines)


#: The paper's ablation table, row by row: (label, variant/nms of the row, effect shown beside it).
PAPER_ROWS: Tuple[Tuple[str, str, Optional[str]], ...] = (
    ("RMPE, full system (SSTN + parallel SPPE, PGPG, parametric pose NMS)", "full/parametric", None),
    ("without SSTN and the parallel SPPE", "pgpg/parametric", "sstn"),
    ("without PGPG", "sstn/parametric", "pgpg"),
    ("PGPG replaced by random jittering of the same magnitude (no SSTN)", "jitter/parametric", "pgpg_vs_random_jitter"),
    ("without pose NMS", "full/none", "parametric_nms"),
    ("OKS NMS instead of the parametric NMS", "full/oks", "parametric_vs_oks_nms"),
    ("parametric NMS with constants searched on the tune split", "full/tuned", "tuned_nms_constants"),
    ("plain baseline: no SSTN, no PGPG, no NMS", "plain/none", "full_system"),
)
README_BEGIN = "<!-- ablation-table: written by python benchmarks/ablation.py --readme from benchmarks/ablation/results.json -->"
README_END = "<!-- /ablation-table -->"


def paper_table(stats: Dict[str, Any]) -> str:
    """The README's "Does RMPE help?" table from results.json's pooled records: one row per
    setting of the paper's ablation, its AP and the effect of the component it removes
    (with minus without, paired, 95 % interval)."""
    ap = {f"{r['name']}/{r['nms']}": r for r in stats["variants"] if r["seed"] == "pooled"}
    eff = {e["component"]: e for e in stats["effects"] if e["seed"] == "pooled"}
    lines = ["| setting | AP [95% CI] | effect of the component (with - without) [95% CI] |", "|---|---|---|"]
    for label, key, component in PAPER_ROWS:
        if key not in ap:
            continue
        r = ap[key]
        cell = "-"
        if component in eff:
            e = eff[component]
            cell = f"`{component}` {e['delta']:+.3f} [{e['ci'][0]:+.3f}, {e['ci'][1]:+.3f}]"
        lines.append(f"| {label} | {r['ap']:.3f} [{r['ci'][0]:.3f}, {r['ci'][1]:.3f}] | {cell} |")
    return "\n".join(lines)


def write_readme(stats: Dict[str, Any], readme: str) -> None:
    """Replace the table between the README's ablation markers with :func:`paper_table`."""
    from rmpe.io import atomic_open

    with open(readme, "r", encoding="utf-8") as fh:
        text = fh.read()
    if README_BEGIN not in text or README_END not in text:
        raise SystemExit(f"ablation: {readme} has no ablation-table markers")
    head, rest = text.split(README_BEGIN, 1)
    _, tail = rest.split(README_END, 1)
    with atomic_open(readme, "w", encoding="utf-8") as fh:
        fh.write(head + README_BEGIN + "\n" + paper_table(stats) + "\n" + README_END + tail)


def plot(stats: Dict[str, Any], path: str) -> None:
    """Two panels: pooled AP per variant and NMS with 95 % intervals; each effect with its interval."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    pooled = [r for r in stats["variants"] if r["seed"] == "pooled"]
    names = [v for v in VARIANTS if any(r["name"] == v for r in pooled)]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 4.8))
    width = 0.8 / len(NMS)
    for j, nms in enumerate(NMS):
        rows = [next((r for r in pooled if r["name"] == v and r["nms"] == nms), None) for v in names]
        x = np.arange(len(names)) + (j - (len(NMS) - 1) / 2) * width
        ap = np.array([r["ap"] if r else np.nan for r in rows])
        err = np.array([[r["ap"] - r["ci"][0], r["ci"][1] - r["ap"]] if r else [0, 0] for r in rows]).T
        ax1.bar(x, ap, width, yerr=err, capsize=2, label=f"NMS {nms}")
    ax1.set_xticks(np.arange(len(names)), names)
    ax1.set_ylabel("COCO keypoint AP (test split)")
    ax1.set_title("AP per variant (seeds pooled, 95% bootstrap CI)")
    ax1.legend(fontsize=8)
    effects = [e for e in stats["effects"] if e["seed"] == "pooled"]
    y = np.arange(len(effects))
    delta = np.array([e["delta"] for e in effects])
    err = np.array([[e["delta"] - e["ci"][0], e["ci"][1] - e["delta"]] for e in effects]).T.reshape(2, -1)
    ax2.errorbar(delta, y, xerr=err, fmt="o", capsize=3)
    ax2.axvline(0.0, color="grey", lw=1)
    ax2.set_yticks(y, [e["component"] for e in effects])
    ax2.invert_yaxis()
    ax2.set_xlabel("delta AP, paired (with - without)")
    ax2.set_title("Effect of each component (95% CI)")
    fig.tight_layout()
    tmp = path + ".tmp.png"
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, path)


# ---------------------------------------------------------------------------- main


def run(args: argparse.Namespace) -> Dict[str, Any]:
    import cv2
    from tqdm import tqdm

    # rmpe-synth runs in this process before the trainer forks its DataLoader workers: with
    # OpenCV's thread pool started here, a forked worker hangs on a lock of that pool. One
    # OpenCV thread in this process (the workers use one each anyway, rmpe.data.loader).
    cv2.setNumThreads(1)
    plan = QUICK if args.quick else FULL
    changes = {k: v for k, v in (("epochs", args.epochs), ("base_epochs", args.base_epochs),
                                 ("train_images", args.train_images)) if v is not None}
    if "epochs" in changes:  # the rate still drops by 10 for the variants' last epoch
        changes["lr_steps"] = (changes["epochs"] - 1,) if changes["epochs"] > 1 else ()
    if changes:
        plan = dataclasses.replace(plan, **changes)
    work = os.path.join(args.work, "quick") if args.quick else args.work
    out = args.out or (os.path.join(work, "results") if args.quick else os.path.join(ROOT, "benchmarks", "ablation"))
    os.makedirs(out, exist_ok=True)
    base = load_config(args.config, [f"train.lr_steps={list(plan.lr_steps)}"])
    seeds = list(args.seeds)
    variants = list(args.variants)
    start = time.perf_counter()
    jobs = 1 + len(seeds) + len(variants) * len(seeds) * 2 + 1
    bar = tqdm(total=jobs, desc="ablation", unit="step", disable=args.quiet)
    bar.set_postfix_str("data + proposals")
    timings: Dict[str, float] = {}
    t0 = time.perf_counter()
    data = {split: make_split(work, split, n, base) for split, n in
            (("train", plan.train_images), ("tune", plan.tune_images), ("test", plan.test_images))}
    proposals = fit_proposals(work, data["train"], plan)
    timings["data and proposals"] = time.perf_counter() - t0
    bar.update(1)
    results: Dict[Tuple[str, int], Dict[str, str]] = {}
    for seed in seeds:
        bar.set_postfix_str(f"train base seed {seed}")
        t0 = time.perf_counter()
        base_ckpt = train_variant(work, "base", seed, base_config(base, seed, plan, data, args.device),
                                  quiet=args.quiet or not args.verbose)
        timings[f"train base s{seed}"] = time.perf_counter() - t0
        bar.update(1)
        for variant in variants:
            config = variant_config(base, variant, seed, plan, data, proposals, args.device, init_from=base_ckpt)
            bar.set_postfix_str(f"train {variant} seed {seed}")
            t0 = time.perf_counter()
            ckpt = train_variant(work, variant, seed, config, quiet=args.quiet or not args.verbose)
            timings[f"train {variant} s{seed}"] = time.perf_counter() - t0
            bar.update(1)
            bar.set_postfix_str(f"eval {variant} seed {seed}")
            t0 = time.perf_counter()
            results[(variant, seed)] = evaluate_variant(work, variant, seed, config, ckpt, data,
                                                        quiet=args.quiet or not args.verbose)
            timings[f"eval {variant} s{seed}"] = time.perf_counter() - t0
            bar.update(1)
    bar.set_postfix_str("bootstrap")
    t0 = time.perf_counter()
    stats = statistics(results, data["test"]["ann"], plan.bootstrap)
    stats["diagnostics"] = {"stn_motion": {
        f"{variant}_s{seed}": stn_motion(variant_config(base, variant, seed, plan, data, proposals, args.device),
                                         os.path.join(work, "train", f"{variant}_s{seed}", "last.pth"), data["test"])
        for variant in variants if VARIANTS[variant][0] for seed in seeds}}
    timings["statistics and diagnostics"] = time.perf_counter() - t0
    bar.update(1)
    bar.close()
    plan_record = {**plan.__dict__, "lr_steps": list(plan.lr_steps), "seeds": seeds, "variants": variants,
                   "quick": bool(args.quick), "config": os.path.relpath(args.config, ROOT)}
    # The time each step took when it last ran: a step cached this time (well under a second)
    # keeps the figure of the run that made it, so a resumed or repeated run still reports
    # what the whole ablation costs.
    steps = {}
    try:
        with open(os.path.join(out, "results.json"), "r", encoding="utf-8") as fh:
            previous = json.load(fh)
        if previous.get("plan") == json.loads(json.dumps(plan_record)):
            steps = dict(previous.get("step_seconds") or previous.get("step_seconds_this_run") or {})
    except (OSError, ValueError):
        pass
    steps.update({k: round(v, 1) for k, v in timings.items() if v >= 1.0 or k not in steps})
    stats.update({
        "plan": plan_record,
        "seconds_this_run": round(time.perf_counter() - start, 1),
        "step_seconds": steps,
        "seconds_total": round(sum(steps.values()), 1),
    })
    atomic_write_json(os.path.join(out, "results.json"), stats, indent=2)
    plot(stats, os.path.join(out, "ablation.png"))
    print(format_tables(stats))
    print()
    print(paper_table(stats))
    print(f"results: {os.path.join(out, 'results.json')}, chart: {os.path.join(out, 'ablation.png')}; "
          f"{stats['seconds_this_run']:.0f} s this run, {stats['seconds_total'] / 60:.0f} min for every step")
    return stats


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", default=CROWD, help="the world and training recipe (default configs/synthetic/crowd.yaml)")
    ap.add_argument("--work", default=os.path.join(ROOT, "work_dirs", "ablation"), help="cache of data, models, results")
    ap.add_argument("--out", default=None, help="results.json and ablation.png (default benchmarks/ablation)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    ap.add_argument("--quick", action="store_true", help="tiny world, 1 short epoch: a smoke test of the chain")
    ap.add_argument("--epochs", type=int, default=None,
                    help="override the plan's epochs per variant after the base (the LR drops for the last one)")
    ap.add_argument("--base-epochs", type=int, default=None, help="override the plan's epochs of the shared base SPPE")
    ap.add_argument("--train-images", type=int, default=None, help="override the plan's training images")
    ap.add_argument("--device", default="cpu", help="training and evaluation device (cpu, cuda, auto)")
    ap.add_argument("--verbose", action="store_true", help="also show the training and evaluation bars")
    ap.add_argument("--quiet", action="store_true", help="no progress bar")
    ap.add_argument("--readme", action="store_true",
                    help="only rewrite README.md's ablation table from the results.json in --out (runs nothing)")
    return ap


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    if args.readme:
        out = args.out or os.path.join(ROOT, "benchmarks", "ablation")
        with open(os.path.join(out, "results.json"), "r", encoding="utf-8") as fh:
            write_readme(json.load(fh), os.path.join(ROOT, "README.md"))
        print(f"README.md: ablation table written from {os.path.join(out, 'results.json')}")
        return 0
    run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
