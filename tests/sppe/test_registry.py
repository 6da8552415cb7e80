"""Every registered model: forward, backward, parameter count (the timm way); options; precision."""
from __future__ import annotations

import pytest
import torch

import sppe
from sppe import SPPEError, build_sppe, list_sppe

# torchvision's published parameter counts (classifier included) and its classifier's size:
# resnet18 11,689,512; resnet34 21,797,672; resnet50 25,557,032; resnet101 44,549,160;
# resnet152 60,192,808; fc = 512*1000+1000 or 2048*1000+1000.
TORCHVISION_TRUNK = {
    18: 11_689_512 - 513_000,
    34: 21_797_672 - 513_000,
    50: 25_557_032 - 2_049_000,
    101: 44_549_160 - 2_049_000,
    152: 60_192_808 - 2_049_000,
}
DEPTH = {"fastpose_se18": 18, "fastpose_se34": 34, "fastpose_se50": 50, "fastpose_se101": 101, "fastpose_se152": 152}


def expected_parameters(depth: int, num_keypoints: int, se_reduction: int = 1) -> int:
    """Trunk (torchvision) + one SE layer per stage + the head, counted by hand."""
    expansion = 4 if depth >= 50 else 1
    total = TORCHVISION_TRUNK[depth]
    for width in (64, 128, 256, 512):
        c = width * expansion
        hidden = c // se_reduction
        total += (c * hidden + hidden) + (hidden * c + c)
    d1, d2 = (1024, 512) if expansion == 4 else (512, 256)
    c_in = 512 * expansion // 4
    total += c_in * d1 * 9 + 2 * d1          # duc1 conv (no bias) + BN
    total += (d1 // 4) * d2 * 9 + 2 * d2     # duc2
    total += (d2 // 4) * num_keypoints * 9 + num_keypoints  # conv_out with bias
    return total


def test_registry_lists_required_variants():
    names = list_sppe()
    assert names == sorted(names)
    for required in ("fastpose_se18", "fastpose_se50", "fastpose_se101", "fastpose_se152"):
        assert required in names
    assert set(names) == set(DEPTH)  # a new variant must be added to this test's table


def test_published_alphapose_parameter_count():
    model = build_sppe("fastpose_se50", num_keypoints=17)
    assert sum(p.numel() for p in model.parameters()) == 40_577_745  # the reference JSON's figure


@pytest.mark.parametrize("name", list_sppe())
def test_variant_forward_backward_parameters(name):
    torch.manual_seed(0)
    model = build_sppe(name).train()
    assert model.name == name and model.num_keypoints == 17
    assert sum(p.numel() for p in model.parameters()) == expected_parameters(DEPTH[name], 17)
    x = torch.randn(2, 3, 64, 32)
    out = model(x)
    assert out.shape == (2, 17, 16, 8)
    (out.square().mean() + out.mean()).backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), pname
    assert model.conv_out.weight.grad.abs().sum() > 0
    assert model.preact.conv1.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("name", list_sppe())
def test_variant_output_shape_at_256x192(name):
    model = build_sppe(name).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, 256, 192))
    assert out.shape == (1, 17, 64, 48)
    assert tuple(out.shape[-2:]) == model.heatmap_size


def test_overrides():
    model = build_sppe("fastpose_se18", num_keypoints=14, input_size=(128, 96), se="all", se_reduction=4,
                       duc_channels=(256, 128))
    assert model.num_keypoints == 14 and model.input_size == (128, 96) and model.heatmap_size == (32, 24)
    assert model.duc1.conv.weight.shape == (256, 128, 3, 3) and model.conv_out.weight.shape == (14, 32, 3, 3)
    assert sum(isinstance(m, sppe.SELayer) for m in model.modules()) == 8
    with torch.no_grad():
        assert model.eval()(torch.zeros(1, 3, 128, 96)).shape == (1, 14, 32, 24)
    se_params = sum(2 * ((c * (c // 4) + c // 4) + ((c // 4) * c + c)) for c in (64, 128, 256, 512))
    head = (128 * 256 * 9 + 2 * 256) + (64 * 128 * 9 + 2 * 128) + (32 * 14 * 9 + 14)
    assert sum(p.numel() for p in model.parameters()) == TORCHVISION_TRUNK[18] + se_params + head == 11_900_526


def test_unknown_name_lists_known_models():
    with pytest.raises(SPPEError) as info:
        build_sppe("fastpose_se51")
    message = str(info.value)
    assert "fastpose_se51" in message
    for name in list_sppe():
        assert name in message
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("overrides,match", [
    ({"depth": 18}, "unknown option 'depth'"),
    ({"num_keypoint": 3}, "unknown option 'num_keypoint'"),
    ({"num_keypoints": 0}, "num_keypoints"),
    ({"se": "some"}, "se must be one of"),
    ({"se_reduction": 0}, "se_reduction"),
    ({"duc_channels": (1000, 510)}, "duc_channels"),
    ({"input_size": (250, 192)}, "multiples of 32"),
    ({"pixel_mean": (0.5, 0.5)}, "pixel_mean"),
    ({"pixel_std": (1.0, 0.0, 1.0)}, "pixel_std"),
])
def test_bad_options_raise_sppe_error(overrides, match):
    with pytest.raises(SPPEError, match=match):
        build_sppe("fastpose_se18", **overrides)


def test_package_does_not_import_rmpe():
    import subprocess
    import sys

    code = (
        "import sys, sppe; sppe.build_sppe('fastpose_se18'); "
        "print(any(m == 'rmpe' or m.startswith('rmpe.') for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# ----------------------------------------------------------------------------- precision / layout
def test_channels_last_matches_contiguous(randomize):
    model = randomize(build_sppe("fastpose_se18"), seed=2).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        expected = model(x)
        model_cl = model.to(memory_format=torch.channels_last)
        out = model_cl(x.contiguous(memory_format=torch.channels_last))
    torch.testing.assert_close(out, expected, rtol=1e-4, atol=1e-5)
    model_cl.train()
    model_cl(x.contiguous(memory_format=torch.channels_last)).sum().backward()
    assert model_cl.preact.conv1.weight.grad is not None


def test_cpu_autocast_bf16_close_to_fp32(randomize):
    model = randomize(build_sppe("fastpose_se18"), seed=4).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        expected = model(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = model(x)
    assert out.dtype == torch.bfloat16
    error = (out.float() - expected).abs().max() / expected.abs().max()
    assert error < 0.05


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_cuda_autocast_matches_fp32(dtype, randomize):
    model = randomize(build_sppe("fastpose_se50"), seed=4).eval().cuda().to(memory_format=torch.channels_last)
    x = torch.randn(4, 3, 256, 192, device="cuda").contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        expected = model(x)
        with torch.autocast("cuda", dtype=dtype):
            out = model(x)
    assert out.dtype == dtype and out.shape == (4, 17, 64, 48)
    error = (out.float() - expected).abs().max() / expected.abs().max()
    assert error < 0.05
    model.train()
    with torch.autocast("cuda", dtype=dtype):
        loss = model(x).float().square().mean()
    loss.backward()
    assert torch.isfinite(model.conv_out.weight.grad).all()
