"""The inference flags every pipeline tool shares mean the same config keys, and the same thing."""
import argparse
import json

import pytest

from rmpe.cli.demo import build_parser as demo_parser
from rmpe.cli.demo import main as demo_main
from rmpe.cli.eval import build_parser as eval_parser
from rmpe.cli.eval import main as eval_main
from rmpe.cli.options import add_inference_args, config_from_args, flag_overrides

FLAGS = ["--no-flip", "--decoder", "dark", "--nms", "none", "--batch", "3", "--sppe-batch", "5", "--no-half",
         "--score", "box", "--device", "cpu"]


def _flags(argv):
    p = argparse.ArgumentParser()
    add_inference_args(p)
    return p.parse_args(argv)


def test_flags_become_config_keys():
    assert flag_overrides(_flags(FLAGS)) == [
        "inference.flip=false", "inference.decoder=dark", "pose_nms.type=none", "inference.batch=3",
        "inference.sppe_batch=5", "inference.half=false", "inference.score=box", "device=cpu",
    ]
    assert flag_overrides(_flags([])) == []  # nothing given: the config decides
    assert flag_overrides(_flags(["--flip", "--half"])) == ["inference.flip=true", "inference.half=true"]


@pytest.mark.parametrize("parser", [demo_parser, eval_parser])
def test_both_tools_accept_the_same_flags_and_they_override_the_config(parser, tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("inference:\n  flip: true\n  half: true\npose_nms:\n  type: oks\n")
    source = ["--image", "x.jpg"] if parser is demo_parser else []
    args = parser().parse_args(source + ["--checkpoint", "w.pth", "--config", str(cfg),
                                         "--set", "inference.decoder=argmax", *FLAGS])
    c = config_from_args(args)
    assert (c.inference.flip, c.inference.decoder, c.pose_nms.type, c.inference.batch) == (False, "dark", "none", 3)
    assert (c.inference.sppe_batch, c.inference.half, c.inference.score, c.device) == (5, False, "box", "cpu")
    untouched = config_from_args(parser().parse_args(source + ["--checkpoint", "w.pth", "--config", str(cfg)]))
    assert untouched.inference.flip is True and untouched.pose_nms.type == "oks"


def test_demo_and_eval_give_the_same_poses(shared_data, small_model_files, tmp_path):
    """`--nms none --no-flip` in rmpe-demo and rmpe-eval: the same people, keypoints and scores."""
    cfg, ckpt = small_model_files
    folder = shared_data / "mmpose_coco"
    dets = folder / "test_coco_det_AP_H_56.json"
    common = ["--config", str(cfg), "--checkpoint", str(ckpt), "--nms", "none", "--no-flip", "--device", "cpu",
              "--quiet"]
    assert demo_main(["--images", str(folder), "--detector", str(dets), "--format", "coco",
                      "--json", str(tmp_path / "demo.json"), *common]) == 0
    assert eval_main(["--ann", str(folder / "test_coco.json"), "--images", str(folder), "--boxes", str(dets),
                      "--out", str(tmp_path / "eval.json"), *common]) == 0
    demo = json.loads((tmp_path / "demo.json").read_text())
    evaluated = json.loads((tmp_path / "eval.json").read_text())
    assert len(evaluated) > 20  # every detector box becomes a person without NMS
    assert sorted(demo, key=lambda r: r["image_id"]) == sorted(evaluated, key=lambda r: r["image_id"])
