"""rmpe-demo without --config uses the config stored in an rmpe-train checkpoint (issue 16, item 13)."""
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_demo_uses_the_checkpoint_config(shared_data, small_model_files, tmp_path):
    _, ckpt = small_model_files
    image = shared_data / "mmpose_coco" / "000000000785.jpg"
    dets = tmp_path / "d.json"
    dets.write_text(json.dumps([{"image_id": 785, "category_id": 1, "bbox": [280, 40, 220, 380], "score": 0.9}]))
    js = tmp_path / "out.json"
    env = dict(os.environ, PYTHONPATH=str(ROOT), YOLO_OFFLINE="1", OMP_NUM_THREADS="1")
    res = subprocess.run([sys.executable, "-m", "rmpe.cli.demo", "--checkpoint", str(ckpt), "--image", str(image),
                          "--detector", str(dets), "--json", str(js), "--device", "cpu", "--quiet",
                          "--set", "pose_nms.type=none"],
                         env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert f"rmpe-demo: using the config stored in {ckpt}" in res.stderr.splitlines()
    assert js.exists()
