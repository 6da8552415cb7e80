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
