"""rmpe-pgpg fit / show on synthetic COCO files and on real COCO annotations + detections."""
import json
from pathlib import Path

import numpy as np
import pytest

from pgpg import PGPGProposals, load_proposal_generator
from pgpg.synthetic import make_planted_people
from rmpe.cli.pgpg import main
from tests.shared import SHARED_DATA, require

DATA = SHARED_DATA
MEANS = np.array([[-0.05, -0.03, 0.06, 0.04], [0.06, 0.04, -0.05, -0.02]])
STDS = np.array([[0.04, 0.03, 0.05, 0.03], [0.07, 0.05, 0.06, 0.04]])


def _xywh(b):
    return [float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])]


@pytest.fixture(scope="module")
def coco_files(tmp_path_factory):
    d = make_planted_people(150, MEANS, STDS, seed=4)
    folder = tmp_path_factory.mktemp("coco")
    anns = []
    for i, (box, kp, img) in enumerate(zip(d["gt_boxes"], d["keypoints"], d["image_ids"])):
        anns.append({"id": i + 1, "image_id": int(img) + 100, "category_id": 1, "iscrowd": 0, "bbox": _xywh(box),
                     "keypoints": kp.reshape(-1).tolist(), "num_keypoints": int((kp[:, 2] > 0).sum())})
    # a crowd region and a non-person object: both ignored
    anns.append({"id": 9001, "image_id": 100, "category_id": 1, "iscrowd": 1, "bbox": [0, 0, 5, 5]})
    anns.append({"id": 9002, "image_id": 100, "category_id": 2, "iscrowd": 0, "bbox": [0, 0, 5, 5]})
    ann = {"images": [{"id": int(i) + 100} for i in np.unique(d["image_ids"])], "annotations": anns,
           "categories": [{"id": 1, "name": "person"}, {"id": 2, "name": "dog"}]}
    dets = [{"image_id": int(img) + 100, "category_id": 1, "bbox": _xywh(b), "score": float(s)}
            for b, img, s in zip(d["det_boxes"], d["det_image_ids"], d["det_scores"])]
    dets.append({"image_id": 100, "category_id": 3, "bbox": [0, 0, 10, 10], "score": 0.9})  # not a person
    (folder / "ann.json").write_text(json.dumps(ann))
    (folder / "dets.json").write_text(json.dumps(dets))
    return folder, d


def test_fit_writes_model_and_prints_summary(coco_files, capsys):
    folder, d = coco_files
    out = folder / "model.npz"
    rc = main(["fit", "--ann", str(folder / "ann.json"), "--dets", str(folder / "dets.json"), "--out", str(out),
               "--k", "2", "--components", "1", "--min-samples", "20"])
    assert rc == 0
    text = capsys.readouterr().out
    lines = text.strip().splitlines()
    assert "300 people (1 crowd skipped)" in lines[0] and "300 matched at IoU >= 0.5" in lines[0]
    assert lines[1].split()[:4] == ["atom", "poses", "matched", "comp"]
    rows = [ln.split() for ln in lines[2:5]]
    assert [r[0] for r in rows] == ["0", "1", "global"]
    assert int(rows[0][2]) + int(rows[1][2]) <= 300 and rows[2][2] == "300"
    gen = load_proposal_generator(out)
    assert isinstance(gen, PGPGProposals) and gen.atoms.num_atoms == 2
    means = sorted(gen.offsets.mixture(a).mean().tolist() for a in range(2))
    np.testing.assert_allclose(means, sorted(MEANS.tolist()), atol=0.02)
    # the printed means are the model's
    np.testing.assert_allclose([float(v) for v in rows[0][4:8]], gen.offsets.mixture(0).mean(), atol=1e-4)
    assert main(["show", "--model", str(out)]) == 0
    assert "atom" in capsys.readouterr().out


def test_json_output(coco_files):
    folder, _ = coco_files
    out = folder / "model.json"
    assert main(["fit", "--ann", str(folder / "ann.json"), "--dets", str(folder / "dets.json"), "--out", str(out), "--k", "2"]) == 0
    assert json.loads(out.read_text())["mode"] == "pgpg"


@pytest.mark.parametrize(
    "case, message",
    [
        ("missing_ann", "annotation file not found"),
        ("bad_json", "is not valid JSON"),
        ("no_keypoints", "no person annotation has keypoints"),
        ("bad_bbox", "'bbox' must be 4 numbers"),
        ("dets_not_list", "must be a JSON list of COCO results"),
        ("no_match", "no detection lies on an annotated image"),
        ("bad_out", "must end in .npz or .json"),
        ("too_many_atoms", "fewer than k=500 atomic poses"),
        ("missing_model", "PGPG model file not found"),
    ],
)
def test_bad_inputs_exit_2_with_one_line(coco_files, tmp_path, capsys, case, message):
    folder, _ = coco_files
    ann, dets, out = str(folder / "ann.json"), str(folder / "dets.json"), str(tmp_path / "m.npz")
    extra = []
    if case == "missing_ann":
        ann = str(tmp_path / "nope.json")
    elif case == "bad_json":
        (tmp_path / "a.json").write_text("{oops")
        ann = str(tmp_path / "a.json")
    elif case == "no_keypoints":
        (tmp_path / "a.json").write_text(json.dumps({"annotations": [{"image_id": 1, "bbox": [0, 0, 4, 4]}]}))
        ann = str(tmp_path / "a.json")
    elif case == "bad_bbox":
        (tmp_path / "a.json").write_text(json.dumps({"annotations": [{"image_id": 1, "bbox": [0, 0, 4]}]}))
        ann = str(tmp_path / "a.json")
    elif case == "dets_not_list":
        (tmp_path / "d.json").write_text(json.dumps({"boxes": []}))
        dets = str(tmp_path / "d.json")
    elif case == "no_match":
        (tmp_path / "d.json").write_text(json.dumps([{"image_id": 77777, "bbox": [0, 0, 9, 9], "score": 1}]))
        dets = str(tmp_path / "d.json")
    elif case == "bad_out":
        out = str(tmp_path / "m.txt")
    elif case == "too_many_atoms":
        extra = ["--k", "500"]
    if case == "missing_model":
        rc = main(["show", "--model", str(tmp_path / "none.npz")])
    else:
        rc = main(["fit", "--ann", ann, "--dets", dets, "--out", out] + extra)
    err = capsys.readouterr().err
    assert rc == 2
    assert len(err.strip().splitlines()) == 1 and err.startswith("rmpe-pgpg: error:") and message in err
    assert not (tmp_path / "m.npz").exists()


def test_real_coco_annotations_and_detector_boxes(tmp_path, capsys):
    ann = DATA / "mmpose_coco" / "test_coco.json"
    dets = DATA / "mmpose_coco" / "test_coco_det_AP_H_56.json"
    require(ann), require(dets)
    out = tmp_path / "real.npz"
    rc = main(["fit", "--ann", str(ann), "--dets", str(dets), "--out", str(out), "--k", "2", "--min-samples", "5"])
    assert rc == 0
    head = capsys.readouterr().out.splitlines()[0]
    # 14 people (12 with keypoints), 118 real detector boxes; every person is found by the detector
    assert "14 people" in head and "12 poses in k=2" in head and "118 detections" in head and "14 matched" in head
    gen = load_proposal_generator(out)
    g = gen.offsets.mixture(-1)
    # a good detector's boxes sit within a few percent of the GT sides
    assert np.abs(g.mean()).max() < 0.05 and (g.std() < 0.1).all()
    boxes = gen.sample_batch(np.array([[280.79, 44.73, 499.49, 391.41]]), None, 8, np.random.default_rng(0))
    assert boxes.shape == (1, 8, 4) and np.isfinite(boxes).all()
