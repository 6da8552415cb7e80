"""PoseEstimator: images and videos through the same pipeline as the demo."""
import json

import cv2
import numpy as np
import pytest
import torch

from rmpe import PoseEstimator
from rmpe.structures import Person


@pytest.fixture(scope="module")
def estimator(shared_data, small_model_files):
    cfg, ckpt = small_model_files
    dets = shared_data / "mmpose_coco" / "test_coco_det_AP_H_56.json"
    return PoseEstimator(config=cfg, checkpoint=str(ckpt), detector=str(dets), device="cpu",
                         overrides=["pose_nms.type=none"])


def test_predict_matches_model_on_detector_boxes(estimator, shared_data):
    path = shared_data / "mmpose_coco" / "000000000785.jpg"
    people = estimator.predict(str(path))
    dets = [d for d in json.loads((shared_data / "mmpose_coco" / "test_coco_det_AP_H_56.json").read_text())
            if d["image_id"] == 785]
    assert len(people) == len(dets) and all(isinstance(p, Person) for p in people)
    assert all(p.keypoints.shape == (17, 3) for p in people)
    # the same boxes straight through the model give the same keypoints
    image = cv2.imread(str(path))
    boxes = np.array([[d["bbox"][0], d["bbox"][1], d["bbox"][0] + d["bbox"][2], d["bbox"][1] + d["bbox"][3]] for d in dets], np.float32)
    kp, sc = estimator.model.predict([image], torch.zeros(len(boxes), dtype=torch.long), torch.from_numpy(boxes))
    got = {tuple(np.round(p.box, 2)): p.keypoints for p in people}
    for b, k, s in zip(boxes, kp.numpy(), sc.numpy()):
        np.testing.assert_allclose(got[tuple(np.round(b, 2))][:, :2], k, atol=1e-4)
        np.testing.assert_allclose(got[tuple(np.round(b, 2))][:, 2], s, atol=1e-6)


def test_predict_list_and_empty(estimator, shared_data):
    paths = sorted(str(p) for p in (shared_data / "mmpose_coco").glob("*.jpg"))
    out = estimator.predict(paths)
    assert len(out) == 4 and all(len(p) > 0 for p in out)
    blank = np.zeros((100, 100, 3), np.uint8)
    assert estimator.predict([blank], image_ids=[123456]) == [[]]


def test_predict_video_counts_frames(shared_data, small_model_files, tmp_path):
    cfg, ckpt = small_model_files
    video = shared_data / "mmpose_demo" / "demo.mp4"
    dets = tmp_path / "d.json"
    dets.write_text(json.dumps([{"image_id": i, "category_id": 1, "bbox": [100, 50, 120, 300], "score": 0.8} for i in range(5)]))
    est = PoseEstimator(config=cfg, checkpoint=str(ckpt), detector=str(dets), device="cpu",
                        overrides=["pose_nms.type=none"], batch=2)
    frames = list(est.predict_video(str(video)))
    assert [i for i, _ in frames] == [0, 1, 2, 3, 4]
    assert all(len(p) == 1 for _, p in frames)
