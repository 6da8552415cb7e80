"""PGPG speed: fitting atomic poses + offset mixtures, and drawing proposals.

    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_pgpg.py [--people 1000 5000]

Data: people of planted pose families with family-dependent detector offsets
(``pgpg.synthetic.make_planted_people``).
"""
import argparse
import time

import numpy as np

from pgpg import build_proposal_generator, fit_pgpg
from pgpg.synthetic import POSE_TEMPLATES, make_planted_people


def planted(n_total: int, seed: int = 0):
    families = tuple(sorted(POSE_TEMPLATES))
    f = len(families)
    rng = np.random.default_rng(seed)
    means = rng.uniform(-0.1, 0.1, (f, 4))
    stds = rng.uniform(0.02, 0.08, (f, 4))
    return make_planted_people(max(1, n_total // f), means, stds, families=families, seed=seed)


def timed(fn, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--people", type=int, nargs="+", default=[1000, 5000])
    ap.add_argument("--k", type=int, default=8)
    ap.add_argument("--components", type=int, default=3)
    args = ap.parse_args()
    print("| step | size | time |")
    print("|---|---|---|")
    gen = None
    for n in args.people:
        d = planted(n)
        fit = lambda: fit_pgpg(d["gt_boxes"], d["keypoints"], d["image_ids"], d["det_boxes"],  # noqa: E731
                               d["det_image_ids"], d["det_scores"], k=args.k, n_components=args.components)
        t = timed(fit, repeat=2)
        gen = fit()
        print(f"| fit (k={args.k}, {args.components} components) | {len(d['gt_boxes'])} people, "
              f"{len(d['det_boxes'])} detections | {t:.2f} s |")
    d = planted(1000, seed=1)
    rng = np.random.default_rng(0)
    for name, g in (("pgpg", gen), ("jitter", build_proposal_generator("jitter")), ("gt", build_proposal_generator("gt"))):
        calls = 1000

        def single():
            for i in range(calls):
                g.sample(d["gt_boxes"][i % len(d["gt_boxes"])], d["keypoints"][i % len(d["gt_boxes"])], 1, rng)

        print(f"| `{name}` sample(n=1) | 1 person | {timed(single) / calls * 1e3:.3f} ms per call |")
    t = timed(lambda: gen.sample_batch(d["gt_boxes"], d["keypoints"], 1, rng))
    print(f"| `pgpg` sample_batch | {len(d['gt_boxes'])} people x 1 | {t * 1e3:.1f} ms |")


if __name__ == "__main__":
    main()
