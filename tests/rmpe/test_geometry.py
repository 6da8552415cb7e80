"""Crop boxes, crop matrices and point round trips."""
import math

import cv2
import numpy as np
import pytest
import torch

from rmpe.geometry import (
    box_iou,
    crop_boxes,
    crop_matrices,
    heatmap_to_crop_matrix,
    invert_affine,
    transform_points,
    xywh_to_xyxy,
    xyxy_to_xywh,
)


def test_crop_box_wide_and_tall_hand_computed():
    # wide: w=200 > 0.75*h=75 -> h = 200/0.75 = 266.67; then x1.25
    wide = crop_boxes(torch.tensor([[100.0, 100.0, 300.0, 200.0]]))
    cx, cy, w, h = 200.0, 150.0, 200.0 * 1.25, 200.0 / 0.75 * 1.25
    np.testing.assert_allclose(wide[0].numpy(), [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], rtol=1e-6)
    # tall: w=30 < 0.75*h=150 -> w = 150; then x1.25
    tall = crop_boxes(torch.tensor([[10.0, 0.0, 40.0, 200.0]]))
    np.testing.assert_allclose(tall[0].numpy(), [25 - 93.75, 100 - 125, 25 + 93.75, 100 + 125], rtol=1e-6)


def test_crop_matrix_maps_centre_and_scale():
    cb = crop_boxes(torch.tensor([[100.0, 50.0, 250.0, 450.0]]))
    m = crop_matrices(cb, (256, 192))
    centre = torch.tensor([[[175.0, 250.0]]])
    np.testing.assert_allclose(transform_points(m, centre)[0, 0].numpy(), [96.0, 128.0], atol=1e-4)
    corner = transform_points(m, cb[:, None, :2])
    np.testing.assert_allclose(corner[0, 0].numpy(), [0.0, 0.0], atol=1e-4)


def test_design_back_projection_rule():
    """heatmap -> image equals x = cx + (x_hm - w/2) * crop_w / w (DESIGN.md section 5)."""
    cb = crop_boxes(torch.tensor([[30.0, 40.0, 130.0, 300.0], [0.0, 0.0, 50.0, 20.0]]))
    m = crop_matrices(cb, (256, 192))
    back = invert_affine(m) @ heatmap_to_crop_matrix((256, 192), (64, 48))
    pts = torch.tensor([[[10.0, 20.0], [47.0, 63.0]], [[0.0, 0.0], [24.0, 32.0]]])
    out = transform_points(back, pts)
    cx = (cb[:, 0] + cb[:, 2]) / 2
    cy = (cb[:, 1] + cb[:, 3]) / 2
    cw = cb[:, 2] - cb[:, 0]
    ch = cb[:, 3] - cb[:, 1]
    ex = cx[:, None] + (pts[..., 0] - 24) * cw[:, None] / 48
    ey = cy[:, None] + (pts[..., 1] - 32) * ch[:, None] / 64
    torch.testing.assert_close(out, torch.stack([ex, ey], -1), atol=1e-4, rtol=0)


def test_round_trip_with_rotation_scale_flip():
    rng = np.random.default_rng(0)
    boxes = torch.from_numpy(rng.uniform(0, 400, (50, 2))).float()
    boxes = torch.cat([boxes, boxes + torch.from_numpy(rng.uniform(10, 300, (50, 2))).float()], 1)
    cb = crop_boxes(boxes)
    m = crop_matrices(
        cb, (256, 192),
        rotation=torch.from_numpy(rng.uniform(-40, 40, 50)),
        scale=torch.from_numpy(rng.uniform(0.7, 1.3, 50)),
        flip=torch.from_numpy(rng.random(50) < 0.5),
    )
    pts = torch.from_numpy(rng.uniform(-100, 700, (50, 17, 2))).float()
    back = transform_points(invert_affine(m), transform_points(m, pts))
    assert (back - pts).abs().max() < 1e-4 * 10  # float32 on ~700 px coordinates
    back64 = transform_points(invert_affine(m.double()), transform_points(m.double(), pts.double()))
    assert (back64 - pts.double()).abs().max() < 1e-9


def test_rotation_matches_opencv_convention():
    cb = torch.tensor([[0.0, 0.0, 192.0, 256.0]])  # crop box == output: identity scale
    m = crop_matrices(cb, (256, 192), rotation=torch.tensor([30.0]))
    ref = cv2.getRotationMatrix2D((96.0, 128.0), 30.0, 1.0)
    np.testing.assert_allclose(m[0, :2].numpy(), ref, atol=1e-5)


def test_flip_mirrors_about_crop_centre():
    cb = torch.tensor([[0.0, 0.0, 192.0, 256.0]])
    m = crop_matrices(cb, (256, 192), flip=torch.tensor([True]))
    out = transform_points(m, torch.tensor([[[10.0, 5.0], [96.0, 7.0]]]))
    np.testing.assert_allclose(out[0].numpy(), [[182.0, 5.0], [96.0, 7.0]], atol=1e-5)


def test_box_conversions_and_iou():
    xywh = torch.tensor([[10.0, 20.0, 30.0, 40.0]])
    xyxy = xywh_to_xyxy(xywh)
    np.testing.assert_allclose(xyxy.numpy(), [[10, 20, 40, 60]])
    np.testing.assert_allclose(xyxy_to_xywh(xyxy).numpy(), xywh.numpy())
    iou = box_iou(torch.tensor([[0.0, 0, 10, 10]]), torch.tensor([[5.0, 0, 15, 10], [20.0, 20, 30, 30]]))
    np.testing.assert_allclose(iou.numpy(), [[50 / 150, 0.0]], rtol=1e-6)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA")
def test_geometry_on_cuda():
    cb = crop_boxes(torch.tensor([[10.0, 10.0, 100.0, 300.0]], device="cuda"))
    m = crop_matrices(cb, (256, 192), rotation=torch.tensor([10.0], device="cuda"))
    assert m.device.type == "cuda"
    torch.testing.assert_close(invert_affine(m) @ m, torch.eye(3, device="cuda")[None], atol=1e-5, rtol=0)
