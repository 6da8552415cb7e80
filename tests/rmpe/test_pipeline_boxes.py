"""Detector boxes are clipped to the image before cropping; boxes left degenerate are dropped and counted."""
import json

import numpy as np
import pytest
import torch

from detectors.detection_file import DetectionFileDetector
from rmpe.data.annotations import read_image
from rmpe.pipeline import PosePipeline


class BoxCentreModel:
    """Stands in for the model: every keypoint at the centre of the box it is given (records the boxes)."""

    num_keypoints = 17

    def __init__(self):
        self.boxes = []

    def predict(self, images, image_index, boxes, **kwargs):
        self.boxes.append(boxes.cpu().numpy().copy())
        centre = (boxes[:, :2] + boxes[:, 2:]) / 2
        return centre[:, None, :].repeat(1, 17, 1), torch.ones(len(boxes), 17)


def _dets(tmp_path, boxes):
    path = tmp_path / "dets.json"
    path.write_text(json.dumps([{"image_id": 785, "category_id": 1, "bbox": b, "score": 0.9} for b in boxes]))
    return DetectionFileDetector(str(path))


def test_boxes_past_the_image_are_clipped_before_cropping(shared_data, tmp_path):
    image = read_image(str(shared_data / "mmpose_coco" / "000000000785.jpg"))
    h, w = image.shape[:2]
    assert w == 640
    model = BoxCentreModel()
    pipe = PosePipeline(model, _dets(tmp_path, [[-100, -50, 200, 300], [0, 0, 1e6, 1e6]]), nms="none")
    people = pipe([image], [785])[0]
    asked = np.concatenate(model.boxes)
    np.testing.assert_allclose(asked, [[0, 0, 100, 250], [0, 0, w, h]])
    assert len(people) == 2
    for p in people:
        assert (p.keypoints[:, 0] >= 0).all() and (p.keypoints[:, 0] <= w).all()
        assert (p.keypoints[:, 1] >= 0).all() and (p.keypoints[:, 1] <= h).all()
    assert sorted(tuple(p.box.tolist()) for p in people) == [(0, 0, 100, 250), (0, 0, w, h)]
    assert pipe.dropped_boxes == 0


def test_boxes_degenerate_after_clipping_are_dropped_and_counted(shared_data, tmp_path):
    image = read_image(str(shared_data / "mmpose_coco" / "000000000785.jpg"))
    model = BoxCentreModel()
    # right of the image; a sliver 1 px wide inside it; a good box
    pipe = PosePipeline(model, _dets(tmp_path, [[700, 10, 50, 50], [639, 10, 30, 80], [10, 10, 50, 80]]), nms="none")
    people = pipe([image], [785])[0]
    assert len(people) == 1 and pipe.dropped_boxes == 2
    np.testing.assert_allclose(people[0].box, [10, 10, 60, 90])
    pipe([image], [785])
    assert pipe.dropped_boxes == 4  # a running count


def test_real_model_keypoints_stay_near_the_frame(shared_data, small_model_files, tmp_path):
    from rmpe.config import load_config

    cfg_path, ckpt = small_model_files
    cfg = load_config(cfg_path, ["pose_nms.type=none"])
    image = read_image(str(shared_data / "mmpose_coco" / "000000000785.jpg"))
    h, w = image.shape[:2]
    pipe = PosePipeline.from_config(cfg, checkpoint=str(ckpt), detector=_dets(tmp_path, [[0, 0, 1e6, 1e6]]), device="cpu")
    (person,) = pipe([image], [785])[0]
    np.testing.assert_allclose(person.box, [0, 0, w, h])
    # the crop box of the clipped box: centre kept, 0.75 aspect, x1.25 -> within 1.25 x the longer side
    reach = 1.25 * max(w, h / 0.75) / 2
    assert np.all(np.abs(person.keypoints[:, 0] - w / 2) <= reach + 1)
    assert np.all(np.abs(person.keypoints[:, 1] - h / 2) <= reach / 0.75 + 1)
