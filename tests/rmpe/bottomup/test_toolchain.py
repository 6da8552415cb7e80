"""Bottom-up model in the shared toolchain: data samples, pipeline frames, train -> eval -> demo -> API."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from rmpe.bottomup import decode, encode
from rmpe.bottomup.data import BottomUpDataset
from rmpe.bottomup.network import BottomUpOutput, build_bottomup
from rmpe.bottomup.pipeline import BottomUpPipeline
from rmpe.config import config_from_dict
from rmpe.errors import RMPEError


def _config(folder, **train):
    t = {"epochs": 1, "batch_size": 2, "lr": 1e-3, "log_interval": 1, "seed": 0, "flip": False,
         "scale_factor": 0.0, "rotation_prob": 0.0}
    t.update(train)
    data = {"train_ann": str(folder / "annotations.json"), "train_images": str(folder / "images"),
            "val_ann": str(folder / "annotations.json"), "val_images": str(folder / "images"), "num_workers": 0}
    return config_from_dict({
        "model": {"name": "openpose_lite", "input_size": [96, 128], "heatmap_size": [24, 32]},
        "data": data, "train": t, "inference": {"batch": 2}, "device": "cpu",
    })


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    from rmpe.data.synthetic import generate_dataset
    from rmpe.data.synthetic.config import SyntheticConfig

    folder = tmp_path_factory.mktemp("bu_synth")
    world = SyntheticConfig(people=(2, 3), height_range=(60.0, 110.0), small_prob=0.0, clutter=(0, 0),
                            distractors=(0, 0), overlap_prob=0.0)
    generate_dataset(folder, 4, seed=3, size=(160, 120), config=world)
    # one unannotated person (num_keypoints 0) on the first image: the loss must ignore its box
    data = json.loads((folder / "annotations.json").read_text())
    first = data["images"][0]["id"]
    data["annotations"].append({"id": 999999, "image_id": first, "category_id": 1, "iscrowd": 0, "area": 400.0,
                                "bbox": [4.0, 4.0, 20.0, 20.0], "num_keypoints": 0, "keypoints": [0] * 51})
    (folder / "annotations.json").write_text(json.dumps(data))
    return folder


def test_sample_targets_decode_back_to_the_annotated_keypoints(synth):
    cfg = _config(synth)
    data = BottomUpDataset.from_config(cfg, "val")
    ann = json.loads((synth / "annotations.json").read_text())
    sample = data[0]
    image_id = data.persons.image_ids[data.people[0][0]].item()
    people = [a for a in ann["annotations"] if a["image_id"] == image_id and a["num_keypoints"] > 0]
    assert sample["image"].shape == (3, 96, 128) and sample["maps"].shape == (18, 24, 32)
    kp, _, _ = decode(sample["maps"], sample["fields"], min_parts=1)
    # independent frame arithmetic: letterbox 160x120 into 128x96 is a scale of 0.8 with no
    # offset; map px = input px / 4
    truth = [np.array(a["keypoints"], float).reshape(17, 3) for a in people]
    for t in truth:
        vis = t[:, 2] > 0
        expect = (t[vis, :2] * 0.8 + [63.5 - 0.8 * 79.5, 47.5 - 0.8 * 59.5]) / 4
        d = np.linalg.norm(kp[:, vis] - expect[None], axis=-1)
        assert d[np.argmin(d.mean(axis=1))].max() < 0.05
    # the unannotated person's box (4..24 image px -> 0.8..3.8 map px) is masked out
    mask = sample["mask"].numpy()
    assert mask[1:4, 1:4].max() == 0.0 and mask.mean() > 0.9


def test_pipeline_maps_decoded_people_back_to_image_pixels():
    rng = np.random.default_rng(0)
    h, w = 100, 150  # image; letterboxed into (256, 384): scale 2.56, centres aligned
    base = np.array([[0, 0], [1, -1], [-1, -1], [2, 0], [-2, 0], [4, 5], [-4, 5], [5, 11], [-5, 11], [5, 16],
                     [-5, 16], [3, 17], [-3, 17], [3, 25], [-3, 25], [3, 33], [-3, 33]], float) * 2.0
    truth = np.stack([base + [40, 15], base + [100, 20]]) + rng.uniform(-0.5, 0.5, (2, 17, 2))
    s = 2.56
    to_map = lambda p: (s * (p - [(w - 1) / 2, (h - 1) / 2]) + [191.5, 127.5]) / 4  # noqa: E731

    class Perfect(torch.nn.Module):
        limbs = build_bottomup("openpose_lite").limbs

        def forward(self, images):
            assert images.shape[1:] == (3, 256, 384)
            maps, fields, _ = encode(to_map(truth), np.ones(truth.shape[:2]), (64, 96))
            b = images.shape[0]
            return BottomUpOutput(fields=[torch.as_tensor(fields)[None].expand(b, -1, -1, -1)],
                                  maps=[torch.as_tensor(maps)[None].expand(b, -1, -1, -1)])

    pipe = BottomUpPipeline(Perfect(), input_size=(256, 384))
    people = pipe([np.zeros((h, w, 3), np.uint8)])[0]
    assert len(people) == 2
    for t in truth:
        p = min(people, key=lambda q: np.abs(q.xy - t).mean())
        np.testing.assert_allclose(p.xy, t, atol=1e-3)
        np.testing.assert_allclose(p.box, [*t.min(axis=0), *t.max(axis=0)], atol=1e-3)
        assert 0 < p.score <= 1
    # a frame without people (an untrained network's usual output) gives an empty list
    truth = np.zeros((0, 17, 2))
    assert pipe([np.zeros((h, w, 3), np.uint8), np.zeros((50, 60, 3), np.uint8)]) == [[], []]


@pytest.mark.slow
def test_train_eval_demo_api_end_to_end(synth, tmp_path, capsys):
    from rmpe.api import PoseEstimator
    from rmpe.cli.demo import main as demo_main
    from rmpe.config import save_config
    from rmpe.eval_runner import evaluate_model
    from rmpe.train import train

    cfg = _config(synth)
    summary = train(cfg, str(tmp_path / "work"), quiet=True)
    assert summary.epochs_done == 1 and summary.global_step == 2 and summary.last_ap is not None
    ckpt = tmp_path / "work" / "last.pth"
    stored = torch.load(ckpt, weights_only=True)
    assert stored["format"] == "rmpe-bottomup" and stored["name"] == "openpose_lite" and "optimizer" in stored
    # the trainer's exact resume works for it too: 1 step, stop, resume -> the same weights
    part = train(cfg, str(tmp_path / "part"), quiet=True, max_steps=1)
    assert part.stopped_early and part.global_step == 1
    rest = train(cfg, str(tmp_path / "part"), quiet=True, resume=True)
    assert rest.global_step == 2 and not rest.stopped_early
    resumed = torch.load(tmp_path / "part" / "last.pth", weights_only=True)["state_dict"]
    for k, v in stored["state_dict"].items():
        assert torch.allclose(v.float(), resumed[k].float(), atol=1e-5), k
    records = [json.loads(line) for line in open(tmp_path / "work" / "metrics.jsonl")]
    assert [r["type"] for r in records if r["type"] != "train"] == ["epoch", "val"]
    assert records[0]["loss"] > 0 and records[0]["loss_heatmap"] > 0
    # rmpe-eval's path gives the validation's AP (no detector involved)
    metrics = evaluate_model(cfg, checkpoint=str(ckpt), progress=False, log=lambda m: None)
    assert metrics["AP"] == pytest.approx(summary.last_ap) and metrics["num_images"] == 4
    # the Python API and rmpe-demo take the checkpoint
    est = PoseEstimator(cfg, checkpoint=str(ckpt))
    image = str(next((synth / "images").iterdir()))
    assert isinstance(est.predict(image), list)
    cfg_file = tmp_path / "bu.yaml"
    save_config(cfg, cfg_file)
    code = demo_main(["--config", str(cfg_file), "--checkpoint", str(ckpt), "--image", image,
                      "--json", str(tmp_path / "out.json"), "--quiet", "--device", "cpu"])
    assert code == 0 and isinstance(json.loads((tmp_path / "out.json").read_text()), list)
    assert "--detector and the detector: settings are ignored" in capsys.readouterr().err
    # a top-down checkpoint for a bottom-up config is one clear error
    from sppe import build_sppe, save_checkpoint

    td = tmp_path / "td.pth"
    save_checkpoint(td, build_sppe("fastpose_se18", input_size=(96, 128)))
    with pytest.raises(RMPEError, match="not a bottom-up model checkpoint"):
        evaluate_model(cfg, checkpoint=str(td), progress=False, log=lambda m: None)


def test_config_errors_are_one_line(synth, tmp_path):
    from rmpe.bottomup.network import BottomUpNet
    from rmpe.bottomup.pipeline import load_bottomup_model
    from rmpe.eval_runner import tune_pose_nms

    cfg = _config(synth)
    bad = config_from_dict({**cfg.to_dict(), "model": {**cfg.to_dict()["model"], "input_size": [100, 128],
                                                         "heatmap_size": [25, 32]}})
    with pytest.raises(RMPEError, match="multiples of 8"):
        BottomUpNet.from_config(bad)
    with pytest.raises(RMPEError, match="torch backend only"):
        load_bottomup_model(config_from_dict({**cfg.to_dict(), "inference": {"backend": "onnxruntime"}}), None, "cpu")
    with pytest.raises(RMPEError, match="has none to tune"):
        tune_pose_nms(cfg, out_yaml=str(tmp_path / "nms.yaml"), progress=False, log=lambda m: None,
                      model=BottomUpNet.from_config(cfg).eval())
