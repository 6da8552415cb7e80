"""The torch-free path: an exported model from boxes to keypoints with numpy, OpenCV and
onnxruntime only; a child process blocks torch's import (and onnx's, for the plain model)."""
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from rmpe.export.lite import decode_argmax, flip_back, sample_bilinear
from tests.shared import SHARED_DATA, needs

COCO = SHARED_DATA / "mmpose_coco"
ROOT = Path(__file__).resolve().parents[3]

CHILD = r"""
import json, sys
blocked = json.loads(sys.argv[1])
for name in blocked:
    sys.modules[name] = None  # any 'import torch' (or onnx) now raises ImportError
import cv2, numpy as np
from rmpe.export.lite import LitePoseModel
image = cv2.imread(sys.argv[3])
boxes = np.array(json.loads(sys.argv[4]))
model = LitePoseModel(sys.argv[2])
out = {}
for flip in (False, True):
    kp, sc = model.predict(image, boxes, flip=flip)
    out[str(flip)] = [kp.tolist(), sc.tolist()]
loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'onnx') and sys.modules[m] is not None)
print(json.dumps({"out": out, "loaded": loaded}))
"""


def test_sample_bilinear_equals_crop_images():
    from rmpe.crop import crop_images

    rng = np.random.default_rng(0)
    image = rng.random((37, 29, 3)).astype(np.float32)
    m = torch.tensor([[[1.3, 0.2, -4.0], [-0.1, 1.1, 3.0], [0, 0, 1]], [[0.7, 0, 5.5], [0, 0.7, -2.0], [0, 0, 1]]],
                     dtype=torch.float64)
    ref = crop_images(torch.from_numpy(image).permute(2, 0, 1)[None].double(), torch.zeros(2, dtype=torch.long), m, (20, 16))
    got = sample_bilinear(image, np.linalg.inv(m.numpy()), (20, 16))
    assert np.abs(got - ref.numpy()).max() < 1e-6


def test_decode_and_flip_twins_equal_torch():
    from rmpe.codec import decode_argmax as torch_decode, flip_heatmaps
    from rmpe.keypoints import COCO_FLIP_PAIRS

    hm = np.random.default_rng(1).random((3, 17, 8, 6)).astype(np.float32)
    hm[0, 0, 0, 0] = 5  # a corner maximum: no quarter step
    c, s = decode_argmax(hm)
    ct, st = torch_decode(torch.from_numpy(hm))
    assert np.array_equal(c, ct.numpy()) and np.array_equal(s, st.numpy())
    assert np.array_equal(flip_back(hm, COCO_FLIP_PAIRS), flip_heatmaps(torch.from_numpy(hm), COCO_FLIP_PAIRS).numpy())


@needs(COCO / "test_coco.json")
@pytest.mark.parametrize("stn", [False, True])
def test_torch_free_path_equals_torch(exported, stn, monkeypatch):
    model, _, _, path = exported[stn]
    ann = json.loads((COCO / "test_coco.json").read_text())
    image_id = 785 if not stn else 197388
    boxes = [[a["bbox"][0], a["bbox"][1], a["bbox"][0] + a["bbox"][2], a["bbox"][1] + a["bbox"][3]]
             for a in ann["annotations"] if a["image_id"] == image_id and a["num_keypoints"] > 0]
    image_path = COCO / f"{image_id:012d}.jpg"
    blocked = ["torch", "onnx"] if not stn else ["torch"]  # cutting the STN graph needs onnx
    proc = subprocess.run([sys.executable, "-c", CHILD, json.dumps(blocked), str(path), str(image_path), json.dumps(boxes)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["loaded"] == ([] if not stn else [m for m in result["loaded"] if m.startswith("onnx")])
    image = cv2.imread(str(image_path))
    for flip in (False, True):
        # the lite path's crops are the numpy twin of grid_sample's (exact bilinear on floats); the torch
        # path on the CPU would otherwise take OpenCV's uint8 crops (rmpe.crop.crop_method)
        monkeypatch.setenv("RMPE_CROP", "grid_sample")
        kt, st = model.predict([image], np.zeros(len(boxes)), np.array(boxes, np.float32), flip=flip)
        kp, sc = (np.array(v) for v in result["out"][str(flip)])
        assert kp.shape == (len(boxes), 17, 2)
        assert np.abs(kp - kt.numpy()).max() <= 0.01
        assert np.abs(sc - st.numpy()).max() <= 1e-4
