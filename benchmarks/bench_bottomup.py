"""Bottom-up vs top-down: AP and runtime per image as the number of people grows.

    python benchmarks/bench_bottomup.py [--people 1 2 4 8 16] [--images 6] [--threads 1]
        [--topdown-config work_dirs/quickstart/config.yaml --topdown-checkpoint work_dirs/quickstart/best.pth]
        [--bottomup-config configs/synthetic/bottomup_lite.yaml --bottomup-checkpoint work_dirs/bottomup_lite/best.pth]
        [--json bench_bottomup.json] [--chart docs/images/bottomup_vs_topdown.png]

For every people count n, ``--images`` images of ``--size`` (W H) are generated with the bottom-up
config's synthetic world, set to exactly n people per image. Both systems run on the same
images, one image per call (the inference ``batch`` is 1), after one warm-up call:

* top-down: the RMPE pipeline of the top-down config with the boxes of rmpe-synth's simulated
  detector (``detections.json``: redundant boxes, misses and false positives, no detector cost),
  crops + SPPE + decoding + pose NMS;
* bottom-up: the bottom-up pipeline at the image's own resolution (``model.input_size`` set to
  the image size, so people have the size they had in training), network + association.

Reported per n: median milliseconds per image of each system (and, for bottom-up, the split
between the network and the association) and COCO keypoint AP of each (the one evaluator,
:func:`rmpe.eval_runner.score_results`). A system without a checkpoint file runs with random
weights: its runtime stands, its AP is shown as n/a.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rmpe.bottomup.pipeline import build_pipeline  # noqa: E402
from rmpe.config import as_config, load_config  # noqa: E402
from rmpe.data.synthetic import generate_dataset  # noqa: E402
from rmpe.eval_runner import image_batches, load_dataset_images, score_results  # noqa: E402
from rmpe.formats import to_coco  # noqa: E402
from rmpe.io import atomic_write_json  # noqa: E402
from rmpe.pipeline import StageTimer  # noqa: E402
from rmpe.structures import FrameResult  # noqa: E402


def run(pipeline, dataset, timer=None):
    """(COCO results, per-image seconds) of one pipeline over the data set, one image per call."""
    results, seconds = [], []
    first = True
    for frames, ids, _ in image_batches(dataset, dataset.ids, 1):
        if first:  # warm-up (allocations, thread pools), untimed and not scored twice
            pipeline(frames, ids)
            if timer is not None:
                timer.seconds.clear(), timer.calls.clear()
            first = False
        start = time.perf_counter()
        people = pipeline(frames, ids)
        seconds.append(time.perf_counter() - start)
        for image_id, p in zip(ids, people):
            results.extend(to_coco(FrameResult(index=image_id, people=p, image_id=image_id)))
    return results, seconds


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--people", type=int, nargs="+", default=[1, 2, 4, 8, 16])
    p.add_argument("--images", type=int, default=6, help="images per people count")
    p.add_argument("--size", type=int, nargs=2, default=[384, 288], metavar=("W", "H"))
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=100)
    p.add_argument("--topdown-config", default=str(ROOT / "work_dirs" / "quickstart" / "config.yaml"))
    p.add_argument("--topdown-checkpoint", default=str(ROOT / "work_dirs" / "quickstart" / "best.pth"))
    p.add_argument("--bottomup-config", default=str(ROOT / "configs" / "synthetic" / "bottomup_lite.yaml"))
    p.add_argument("--bottomup-checkpoint", default=str(ROOT / "work_dirs" / "bottomup_lite" / "best.pth"))
    p.add_argument("--nms", default="parametric", help="top-down pose NMS (the simulated detector gives redundant boxes)")
    p.add_argument("--json", default=None, help="write the rows here")
    p.add_argument("--chart", default=None, help="write a PNG chart of runtime and AP against people")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    w, h = args.size
    td_file = args.topdown_config if os.path.isfile(args.topdown_config) else None
    td_cfg = as_config(td_file, [f"pose_nms.type={args.nms}", "inference.batch=1", "device=cpu"])
    bu_cfg = load_config(args.bottomup_config, overrides=[f"model.input_size=[{h}, {w}]",
                                                          f"model.heatmap_size=[{h // 4}, {w // 4}]",
                                                          "inference.batch=1", "device=cpu"])
    td_ckpt = args.topdown_checkpoint if os.path.isfile(args.topdown_checkpoint) else None
    bu_ckpt = args.bottomup_checkpoint if os.path.isfile(args.bottomup_checkpoint) else None
    print(f"top-down: {td_cfg.model.name} {td_cfg.model.input_size} ({td_ckpt or 'random weights'}), "
          f"bottom-up: {bu_cfg.model.name} at {h}x{w} ({bu_ckpt or 'random weights'}), {args.threads} thread(s)",
          file=sys.stderr)
    rows = []
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        torch.manual_seed(0)
        td_timer, bu_timer = StageTimer(torch.device("cpu")), StageTimer(torch.device("cpu"))
        bu = build_pipeline(bu_cfg, checkpoint=bu_ckpt, device="cpu", timer=bu_timer)
        td_model = None
        for n in args.people:
            world = dataclasses.replace(bu_cfg.synthetic, people=(n, n))
            folder = Path(tmp) / f"people{n}"
            generate_dataset(folder, args.images, seed=args.seed + n, size=(w, h), config=world)
            data = load_dataset_images(str(folder / "annotations.json"), str(folder / "images"))
            td = build_pipeline(td_cfg, model=td_model, checkpoint=td_ckpt, detector=str(folder / "detections.json"),
                                device="cpu", timer=td_timer)
            td_model = td.model
            td_res, td_s = run(td, data)
            bu_timer.seconds.clear(), bu_timer.calls.clear()
            bu_res, bu_s = run(bu, data, bu_timer)
            frames = max(len(bu_s), 1)
            row = {
                "people": n, "images": len(data.ids),
                "topdown_ms": 1e3 * statistics.median(td_s), "bottomup_ms": 1e3 * statistics.median(bu_s),
                "bottomup_network_ms": 1e3 * bu_timer.seconds.get("pose", 0.0) / frames,
                "bottomup_association_ms": 1e3 * bu_timer.seconds.get("associate", 0.0) / frames,
                "topdown_AP": score_results(td_res, data, data.ids)["AP"] if td_ckpt else None,
                "bottomup_AP": score_results(bu_res, data, data.ids)["AP"] if bu_ckpt else None,
            }
            rows.append(row)
            print(json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()}), file=sys.stderr)
    fmt = lambda v: "n/a" if v is None else f"{v:.3f}"  # noqa: E731
    print("| people | top-down ms/image | bottom-up ms/image | (network + association) | top-down AP | bottom-up AP |")
    print("|---:|---:|---:|---|---:|---:|")
    for r in rows:
        print(f"| {r['people']} | {r['topdown_ms']:.0f} | {r['bottomup_ms']:.0f} | "
              f"{r['bottomup_network_ms']:.0f} + {r['bottomup_association_ms']:.1f} | "
              f"{fmt(r['topdown_AP'])} | {fmt(r['bottomup_AP'])} |")
    if args.json:
        atomic_write_json(args.json, rows, indent=2)
    if args.chart:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.5))
        people = [r["people"] for r in rows]
        a.plot(people, [r["topdown_ms"] for r in rows], "o-", label="top-down (boxes + crops + SPPE + NMS)")
        a.plot(people, [r["bottomup_ms"] for r in rows], "s-", label="bottom-up (network + association)")
        a.plot(people, [r["bottomup_association_ms"] for r in rows], "s--", label="bottom-up association alone")
        a.set(xscale="log", xticks=people, xticklabels=[str(v) for v in people], xlabel="people per image",
              ylabel="ms / image (1 CPU thread)")
        a.legend(fontsize=7)
        if any(r["topdown_AP"] is not None or r["bottomup_AP"] is not None for r in rows):
            for key, mark, label in (("topdown_AP", "o-", "top-down"), ("bottomup_AP", "s-", "bottom-up")):
                pts = [(r["people"], r[key]) for r in rows if r[key] is not None]
                if pts:
                    b.plot(*zip(*pts), mark, label=label)
            b.set(xscale="log", xticks=people, xticklabels=[str(v) for v in people], xlabel="people per image",
                  ylabel="COCO keypoint AP", ylim=(0, 1))
            b.legend(fontsize=7)
        fig.tight_layout()
        os.makedirs(os.path.dirname(os.path.abspath(args.chart)), exist_ok=True)
        fig.savefig(args.chart, dpi=110)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
