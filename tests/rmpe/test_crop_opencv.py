"""The OpenCV crop path (uint8 CPU frames) against grid_sample, and the one selection between them.

Stated difference (rmpe/crop.py, docs/inference.md): on real photos the two paths differ by at
most 0.51/255 per value (OpenCV rounds its crop to uint8; its fixed-point interpolation adds
nothing visible at this scale), 0.3/255 on average.
"""
import cv2
import numpy as np
import pytest
import torch

from rmpe.crop import crop_images, crop_images_grid_sample, crop_images_opencv, crop_method, frames_to_tensor
from rmpe.geometry import crop_boxes, crop_matrices
from rmpe.testing import bilinear_at
from tests.shared import SHARED_DATA, needs

COCO = SHARED_DATA / "mmpose_coco"
MAX_DIFF = 0.51 / 255
MEAN_DIFF = 0.3 / 255


def _people():
    from tests.rmpe.export.test_backends import _real_people

    return _real_people()


def test_selection():
    u8 = torch.zeros(1, 3, 8, 8, dtype=torch.uint8)
    m = torch.eye(3)[None]
    assert crop_method(u8, m) == "opencv"
    assert crop_method(u8.float(), m) == "grid_sample"  # float images: grid_sample
    assert crop_method(u8, m.clone().requires_grad_()) == "grid_sample"  # gradient to the matrices


def test_forced_grid_sample(monkeypatch):
    monkeypatch.setenv("RMPE_CROP", "grid_sample")
    assert crop_method(torch.zeros(1, 3, 8, 8, dtype=torch.uint8), torch.eye(3)[None]) == "grid_sample"


def test_opencv_crop_equals_plain_bilinear_reference():
    """Against a plain per-pixel bilinear loop (zero border), on a small random image."""
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (3, 20, 24), dtype=np.uint8)
    m = torch.tensor([[[0.8, 0.1, 2.3], [-0.05, 0.9, -1.7], [0, 0, 1]],
                      [[1.3, 0.0, -4.0], [0.0, 1.3, -3.0], [0, 0, 1]]], dtype=torch.float32)
    crops = crop_images_opencv(torch.from_numpy(img)[None], torch.tensor([0, 0]), m, (10, 8))
    assert crops.shape == (2, 3, 10, 8) and crops.dtype == torch.float32
    chw = img.astype(np.float64)
    for i in range(2):
        inv = np.linalg.inv(m[i].double().numpy())
        for y in range(10):
            for x in range(8):
                sx, sy, _ = inv @ np.array([x, y, 1.0])
                ref = bilinear_at(chw, sx, sy) / 255.0
                # uint8 rounding plus OpenCV's 1/32 px sample positions on this noise image
                assert np.abs(crops[i, :, y, x].numpy() - ref).max() <= 8.5 / 255


@needs(COCO / "test_coco.json")
@pytest.mark.parametrize("size", [(256, 192), (128, 96)])
def test_opencv_equals_grid_sample_on_real_photos(size):
    images, index, boxes = _people()
    tensor, _ = frames_to_tensor(images, dtype=torch.uint8)
    m = crop_matrices(crop_boxes(torch.as_tensor(boxes), 0.75, 1.25), size)
    idx = torch.as_tensor(index)
    a = crop_images(tensor, idx, m, size)  # the selection: opencv here
    b = crop_images_grid_sample(tensor, idx, m, size)
    assert torch.equal(a, crop_images_opencv(tensor, idx, m, size))
    diff = (a - b).abs()
    assert float(b.max()) > 0.5  # real content
    assert float(diff.max()) <= MAX_DIFF
    assert float(diff.mean()) <= MEAN_DIFF
    # the same as cv2.warpAffine on the BGR file itself, channel order swapped
    ref = cv2.warpAffine(images[int(index[0])], m[0, :2].double().numpy(), (size[1], size[0]), flags=cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    np.testing.assert_array_equal((a[0].numpy() * 255).round().astype(np.uint8), ref[:, :, ::-1].transpose(2, 0, 1))


@needs(COCO / "test_coco.json")
def test_keypoints_through_either_crop_path(monkeypatch):
    """Decoded keypoints: with the small random model 98 % of the joints land on exactly the
    same place (the rest are near-ties of a random heatmap that the last grey level tips)."""
    from tests.rmpe.export.conftest import small_model

    images, index, boxes = _people()
    model = small_model(False)
    k_cv, s_cv = model.predict(images, index, boxes)
    monkeypatch.setenv("RMPE_CROP", "grid_sample")
    k_gs, s_gs = model.predict(images, index, boxes)
    d = (k_cv - k_gs).norm(dim=-1)
    assert float((d <= 0.01).float().mean()) >= 0.95
    assert float((s_cv - s_gs).abs().max()) <= 0.01
