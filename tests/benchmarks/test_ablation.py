"""benchmarks/ablation.py: its statistics on known results files, and the whole chain in --quick mode."""
from __future__ import annotations

import importlib.util
import json
import os
import sys

import pytest

from rmpe.evaluation import evaluate
from tests.shared import ROOT, SHARED_DATA, needs

GT = SHARED_DATA / "mmpose_coco" / "test_coco.json"
PREDS = SHARED_DATA / "xtcocoapi" / "example_coco_preds.json"
CASE1 = SHARED_DATA / "eval_fixtures" / "mmpose_coco_case1_results.json"


def _ablation():
    spec = importlib.util.spec_from_file_location("ablation_script", ROOT / "benchmarks" / "ablation.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@needs(GT, PREDS, CASE1)
def test_statistics_on_known_results():
    ab = _ablation()
    # Two "models" per variant (seeds 0 and 1); the NMS choices reuse the two real results files.
    files = {"none": str(CASE1), "oks": str(PREDS), "parametric": str(PREDS), "tuned": str(CASE1)}
    swapped = {"none": str(PREDS), "oks": str(CASE1), "parametric": str(CASE1), "tuned": str(PREDS)}
    results = {("plain", 0): files, ("plain", 1): swapped, ("full", 0): swapped, ("full", 1): swapped}
    stats = ab.statistics(results, str(GT), num_samples=100)
    ap = {"preds": evaluate(str(PREDS), str(GT))["AP"], "case1": evaluate(str(CASE1), str(GT))["AP"]}
    assert ap["preds"] == pytest.approx(0.8608896054440609) and ap["case1"] == pytest.approx(0.5287458745874587)
    rec = {(r["name"], r["seed"], r["nms"]): r for r in stats["variants"]}
    assert len(rec) == 2 * 3 * 4
    assert rec[("plain", 0, "none")]["ap"] == pytest.approx(ap["case1"])
    assert rec[("plain", 1, "none")]["ap"] == pytest.approx(ap["preds"])
    assert rec[("plain", "pooled", "none")]["ap"] == pytest.approx(0.5 * (ap["case1"] + ap["preds"]))
    for r in stats["variants"]:
        assert 0.0 <= r["ci"][0] <= r["ci"][1] <= 1.0
    eff = {(e["component"], e["seed"]): e for e in stats["effects"]}
    # Only effects whose two settings were trained are reported: full and plain here.
    assert {c for c, _ in eff} == {"parametric_nms", "parametric_vs_oks_nms", "tuned_nms_constants", "full_system"}
    # full_system = full/parametric (case1 for both seeds) - plain/none (case1, preds).
    assert eff[("full_system", 0)]["delta"] == pytest.approx(0.0)
    assert eff[("full_system", 0)]["ci"] == pytest.approx([0.0, 0.0])
    assert eff[("full_system", 1)]["delta"] == pytest.approx(ap["case1"] - ap["preds"])
    assert eff[("full_system", "pooled")]["delta"] == pytest.approx(0.5 * (ap["case1"] - ap["preds"]))
    low, high = eff[("full_system", 1)]["ci"]
    assert low <= ap["case1"] - ap["preds"] <= high and high < 0
    table = ab.format_tables(stats)
    assert "| full_system | full/parametric | plain/none |" in table
    # The paper-style table: the rows whose settings were trained, AP and effect as in the records.
    rows = ab.paper_table(stats).splitlines()
    labels = [r.split(" | ")[0].lstrip("| ") for r in rows[2:]]
    assert labels == [ab.PAPER_ROWS[i][0] for i in (0, 4, 5, 6, 7)]  # only rows of trained settings
    full = rec[("full", "pooled", "parametric")]
    assert full["ap"] == pytest.approx(ap["case1"])
    assert f"| {full['ap']:.3f} [{full['ci'][0]:.3f}, {full['ci'][1]:.3f}] | - |" in rows[2]
    e = eff[("full_system", "pooled")]
    assert rows[-1].endswith(f"| `full_system` {e['delta']:+.3f} [{e['ci'][0]:+.3f}, {e['ci'][1]:+.3f}] |")
    assert f"{0.5 * (ap['case1'] + ap['preds']):.3f} [" in rows[-1]


def test_readme_table_is_the_committed_results():
    """README's "Does RMPE help?" table is exactly what results.json gives (--readme writes it)."""
    ab = _ablation()
    stats = json.loads((ROOT / "benchmarks" / "ablation" / "results.json").read_text())
    readme = (ROOT / "README.md").read_text()
    block = readme.split(ab.README_BEGIN, 1)[1].split(ab.README_END, 1)[0].strip()
    assert block == ab.paper_table(stats)
    assert not stats["plan"]["quick"] and stats["plan"]["seeds"] == [0, 1] and len(stats["plan"]["variants"]) == 5


@pytest.mark.slow
def test_quick_ablation_runs_and_resumes(tmp_path):
    ab = _ablation()
    args = ["--quick", "--work", str(tmp_path / "work"), "--out", str(tmp_path / "out"), "--variants", "plain", "full",
            "--seeds", "0", "1", "--quiet"]
    assert ab.main(args) == 0
    doc = json.loads((tmp_path / "out" / "results.json").read_text())
    assert (tmp_path / "out" / "ablation.png").stat().st_size > 1000
    assert len(doc["variants"]) == 2 * 3 * 4
    assert {tuple(sorted(r)) for r in doc["variants"]} == {("ap", "ci", "name", "nms", "seed")}
    assert {e["component"] for e in doc["effects"]} == {"parametric_nms", "parametric_vs_oks_nms",
                                                        "tuned_nms_constants", "full_system"}
    # Every AP is the one rmpe.evaluation gives on the cached results file.
    test_ann = tmp_path / "work" / "quick" / "data" / "test" / "annotations.json"
    for r in doc["variants"]:
        if r["seed"] != "pooled":
            path = tmp_path / "work" / "quick" / "eval" / f"{r['name']}_s{r['seed']}" / f"{r['nms']}.json"
            assert r["ap"] == pytest.approx(evaluate(str(path), str(test_ann))["AP"])
    # The STN diagnostics of every STN model, and the time of every step.
    assert set(doc["diagnostics"]["stn_motion"]) == {"full_s0", "full_s1"}
    assert all(d["crops"] > 0 and len(d["corr"]) == 2 for d in doc["diagnostics"]["stn_motion"].values())
    assert {"train base s0", "eval full s1", "data and proposals"} <= set(doc["step_seconds"])
    # Two-stage training: each variant starts from its seed's base SPPE, and its stamp holds the base's.
    for seed in (0, 1):
        base = tmp_path / "work" / "quick" / "train" / f"base_s{seed}" / "last.pth"
        assert base.is_file()
        for variant in ("plain", "full"):
            stamp = json.loads((tmp_path / "work" / "quick" / "train" / f"{variant}_s{seed}" / "last.pth.stamp.json").read_text())
            assert stamp["config"]["model"]["init_from"] == str(base)
            assert stamp["init"] == json.loads((base.parent / "last.pth.stamp.json").read_text())
    # A rerun finds every step cached: no checkpoint or result is rewritten.
    ckpt = tmp_path / "work" / "quick" / "train" / "full_s1" / "last.pth"
    stamps = {p: os.stat(p).st_mtime_ns for p in (tmp_path / "work").rglob("*") if p.is_file()}
    assert ckpt in stamps
    assert ab.main(args) == 0
    assert {p: os.stat(p).st_mtime_ns for p in stamps} == stamps  # nothing trained, evaluated or fitted again
    assert json.loads((tmp_path / "out" / "results.json").read_text())["variants"] == doc["variants"]
