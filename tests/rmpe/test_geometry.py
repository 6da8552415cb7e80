"""Crop boxes, crop matrices, point round trips and the STN frames (theta, gamma, SDTN for
points, centred keypoints), against hand-computed values and DESIGN.md's formulas."""
import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from rmpe.codec import HeatmapCodec
from rmpe.crop import sample_affine
from rmpe.geometry import (
    centred_keypoints,
    compose_crop_matrices,
    crop_boxes,
    crop_matrices,
    gamma_from_theta,
    heatmap_to_crop_matrix,
    heatmap_to_image_matrices,
    invert_affine,
    normalized_sampling_matrices,
    theta_to_pixel,
    transform_points,
    xywh_to_xyxy,
    xyxy_to_xywh,
)
from rmpe.testing import bilinear_at, gamma_reference, random_thetas


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


def test_box_conversions():
    xywh = torch.tensor([[10.0, 20.0, 30.0, 40.0]])
    xyxy = xywh_to_xyxy(xywh)
    np.testing.assert_allclose(xyxy.numpy(), [[10, 20, 40, 60]])
    np.testing.assert_allclose(xyxy_to_xywh(xyxy).numpy(), xywh.numpy())


# ----------------------------------------------------------------------------- STN frames


def test_theta_frames_round_trip_and_meaning():
    """theta_to_pixel(theta_norm) samples exactly like affine_grid(theta_norm)."""
    rng = np.random.default_rng(0)
    size = (16, 12)
    theta_px = torch.from_numpy(random_thetas(rng, 4, size))
    theta_norm = normalized_sampling_matrices(theta_px, size, size)
    torch.testing.assert_close(theta_to_pixel(theta_norm, size), theta_px, atol=1e-12, rtol=0)
    crops = torch.rand(4, 3, *size, dtype=torch.float64)
    grid = F.affine_grid(theta_norm, [4, 3, *size], align_corners=False)
    by_affine_grid = F.grid_sample(crops, grid, align_corners=False)
    torch.testing.assert_close(sample_affine(crops, theta_px), by_affine_grid, atol=1e-10, rtol=0)
    # and crop' pixel u' is the crop value at theta @ u' (plain reference)
    out = sample_affine(crops, theta_px)
    for i in range(4):
        for v, u in ((3, 4), (8, 6), (12, 2)):
            x, y, _ = theta_px[i].numpy() @ np.array([u, v, 1.0])
            np.testing.assert_allclose(out[i, :, v, u].numpy(), bilinear_at(crops[i].numpy(), x, y), atol=1e-10)


def test_gamma_composed_with_theta_is_identity():
    rng = np.random.default_rng(1)
    theta = torch.from_numpy(random_thetas(rng, 200, (256, 192)))
    gamma = gamma_from_theta(theta)
    eye = torch.eye(3, dtype=torch.float64).expand(200, 3, 3)
    torch.testing.assert_close(gamma @ theta, eye, atol=1e-12, rtol=0)
    torch.testing.assert_close(theta @ gamma, eye, atol=1e-12, rtol=0)
    for i in range(0, 200, 17):
        np.testing.assert_allclose(gamma[i].numpy(), gamma_reference(theta[i].numpy()), atol=1e-12)
    g32 = gamma_from_theta(theta.float())
    torch.testing.assert_close(g32 @ theta.float(), eye.float(), atol=1e-5, rtol=0)


def test_keypoint_round_trip_through_random_theta():
    """image -> crop -> crop' (gamma) -> heatmap' and back through M^-1 theta S, float32."""
    rng = np.random.default_rng(2)
    n, k = 64, 17
    boxes = np.stack([rng.uniform(0, 1500, n), rng.uniform(0, 900, n)], 1)
    boxes = np.concatenate([boxes, boxes + rng.uniform(30, 500, (n, 2))], 1)
    m = crop_matrices(crop_boxes(torch.tensor(boxes, dtype=torch.float32)), (256, 192))
    theta = torch.from_numpy(random_thetas(rng, n, (256, 192))).float()
    kp_img = torch.tensor(boxes[:, None, :2] + rng.uniform(0, 1, (n, k, 2)) * (boxes[:, None, 2:] - boxes[:, None, :2]),
                          dtype=torch.float32)
    kp_crop = transform_points(m, kp_img)
    kp_stn = transform_points(gamma_from_theta(theta), kp_crop)  # where crop' shows the crop's points
    torch.testing.assert_close(transform_points(theta, kp_stn), kp_crop, atol=1e-3, rtol=0)
    kp_hm = kp_stn / 4.0  # crop' px -> heatmap' px (256x192 -> 64x48)
    back = heatmap_to_image_matrices(m, theta, (256, 192), (64, 48))
    assert back.dtype == torch.float32
    err = (transform_points(back, kp_hm) - kp_img).norm(dim=-1)
    assert err.max() < 1e-3, err.max()
    # the composed image -> crop' matrix agrees with the chain
    torch.testing.assert_close(
        transform_points(compose_crop_matrices(m, theta), kp_img), kp_stn, atol=1e-3, rtol=0
    )


def test_heatmap_to_image_plain_reference():
    """M^-1 theta S against a hand-written chain for one person (float64)."""
    rng = np.random.default_rng(3)
    m = crop_matrices(crop_boxes(torch.tensor([[100.0, 50.0, 180.0, 260.0]], dtype=torch.float64)), (256, 192))
    theta = torch.from_numpy(random_thetas(rng, 1, (256, 192)))
    back = heatmap_to_image_matrices(m, theta, (256, 192), (64, 48))[0].numpy()
    hm = np.array([13.25, 40.5])
    crop_prime = hm * 4.0
    crop = theta[0].numpy() @ np.array([*crop_prime, 1.0])
    image = np.linalg.inv(m[0].numpy()) @ crop
    np.testing.assert_allclose(back @ np.array([*hm, 1.0]), image, atol=1e-9)


def test_centred_keypoints_hand_computed():
    # GT box 100x200 centred at (150, 200): crop box 150 x 250 (w grows to 0.75 h, then x1.25 -> 187.5 x 250)
    kp = torch.tensor([[[150.0, 200.0], [150.0 + 187.5 / 2, 200.0 - 125.0]]])
    box = torch.tensor([[100.0, 100.0, 200.0, 300.0]])
    out = centred_keypoints(kp, box, (256, 192))
    np.testing.assert_allclose(out[0].numpy(), [[96.0, 128.0], [192.0, 0.0]], atol=1e-4)
    flipped = centred_keypoints(kp, box, (256, 192), flip=torch.tensor([True]))
    np.testing.assert_allclose(flipped[0].numpy(), [[96.0, 128.0], [0.0, 0.0]], atol=1e-4)


def test_centred_keypoints_encode_with_codec():
    """Parallel-SPPE targets: centred keypoints encoded by the shared codec."""
    codec = HeatmapCodec((64, 48), (16, 12), sigma=1.0)
    kp = torch.tensor([[[150.0, 200.0], [0.0, 0.0]]])
    box = torch.tensor([[100.0, 100.0, 200.0, 300.0]])
    hm, w = codec.encode(centred_keypoints(kp, box, codec.input_size), torch.tensor([[1, 0]]))
    assert hm.shape == (1, 2, 16, 12) and w.tolist() == [[1.0, 0.0]]
    # the box centre lands in the crop centre (24, 32) -> heatmap (6, 8)
    assert hm[0, 0].argmax().item() == 8 * 12 + 6
    assert hm[0, 0].max().item() == pytest.approx(1.0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA")
def test_geometry_on_cuda():
    cb = crop_boxes(torch.tensor([[10.0, 10.0, 100.0, 300.0]], device="cuda"))
    m = crop_matrices(cb, (256, 192), rotation=torch.tensor([10.0], device="cuda"))
    assert m.device.type == "cuda"
    torch.testing.assert_close(invert_affine(m) @ m, torch.eye(3, device="cuda")[None], atol=1e-5, rtol=0)
