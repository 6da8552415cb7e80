"""SE layer, DUC, residual blocks and the whole FastPose forward against plain references."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
import torchvision

from sppe import DUC, BasicBlock, Bottleneck, ResNet, SELayer, build_sppe
from sppe.errors import SPPEError


# ----------------------------------------------------------------------------- plain references
def ref_pixel_shuffle(x: torch.Tensor, r: int) -> torch.Tensor:
    """out[n, c, h*r + i, w*r + j] = x[n, c*r*r + i*r + j, h, w], written with explicit slots."""
    n, c, h, w = x.shape
    out = torch.empty(n, c // (r * r), h * r, w * r, dtype=x.dtype)
    for i in range(r):
        for j in range(r):
            channels = [cc * r * r + i * r + j for cc in range(c // (r * r))]
            out[:, :, i::r, j::r] = x[:, channels]
    return out


def ref_bn(x, bn):
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    return (x - bn.running_mean[None, :, None, None]) * scale[None, :, None, None] + bn.bias[None, :, None, None]


def ref_se(x, se):
    """x * sigmoid(W2 relu(W1 mean + b1) + b2), with the mean taken by hand."""
    lin1, lin2 = se.fc[0], se.fc[2]
    pooled = x.sum(dim=(2, 3)) / (x.shape[2] * x.shape[3])
    hidden = torch.clamp(pooled @ lin1.weight.T + lin1.bias, min=0)
    gate = 1.0 / (1.0 + torch.exp(-(hidden @ lin2.weight.T + lin2.bias)))
    return x * gate[:, :, None, None]


def ref_conv(x, conv):
    return F.conv2d(x, conv.weight, conv.bias, stride=conv.stride, padding=conv.padding)


def ref_block(x, block):
    if isinstance(block, Bottleneck):
        y = torch.relu(ref_bn(ref_conv(x, block.conv1), block.bn1))
        y = torch.relu(ref_bn(ref_conv(y, block.conv2), block.bn2))
        y = ref_bn(ref_conv(y, block.conv3), block.bn3)
    else:
        y = torch.relu(ref_bn(ref_conv(x, block.conv1), block.bn1))
        y = ref_bn(ref_conv(y, block.conv2), block.bn2)
    if block.se is not None:  # SE after the last BN, before the residual addition
        y = ref_se(y, block.se)
    shortcut = x if block.downsample is None else ref_bn(ref_conv(x, block.downsample[0]), block.downsample[1])
    return torch.relu(y + shortcut)


def ref_fastpose(model, x):
    t = model.preact
    y = torch.relu(ref_bn(ref_conv(x, t.conv1), t.bn1))
    y = F.max_pool2d(y, kernel_size=3, stride=2, padding=1)
    for stage in (t.layer1, t.layer2, t.layer3, t.layer4):
        for block in stage:
            y = ref_block(y, block)
    y = ref_pixel_shuffle(y, 2)
    for duc in (model.duc1, model.duc2):
        y = ref_pixel_shuffle(torch.relu(ref_bn(ref_conv(y, duc.conv), duc.bn)), 2)
    return ref_conv(y, model.conv_out)


# ----------------------------------------------------------------------------- tests
def test_se_layer_matches_formula(randomize):
    torch.manual_seed(0)
    se = randomize(SELayer(24, reduction=4)).eval()
    assert se.fc[0].weight.shape == (6, 24) and se.fc[2].weight.shape == (24, 6)
    x = torch.randn(3, 24, 5, 7)
    torch.testing.assert_close(se(x), ref_se(x, se), rtol=1e-5, atol=1e-6)


def test_duc_matches_reference_and_shapes(randomize):
    duc = randomize(DUC(8, 32, upscale=2)).eval()
    assert duc.output_channels == 8
    assert set(duc.state_dict()) == {
        "conv.weight", "bn.weight", "bn.bias", "bn.running_mean", "bn.running_var", "bn.num_batches_tracked",
    }
    assert duc.conv.bias is None and duc.conv.kernel_size == (3, 3)
    x = torch.randn(2, 8, 5, 3)
    out = duc(x)
    assert out.shape == (2, 8, 10, 6)
    expected = ref_pixel_shuffle(torch.relu(ref_bn(ref_conv(x, duc.conv), duc.bn)), 2)
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-6)


def test_duc_rejects_indivisible_width():
    with pytest.raises(ValueError, match="divisible"):
        DUC(8, 30)


@pytest.mark.parametrize("block_cls,inplanes,planes,stride", [
    (Bottleneck, 32, 16, 2),   # projection shortcut, stride on the 3x3
    (Bottleneck, 64, 16, 1),   # identity shortcut
    (BasicBlock, 16, 32, 2),
    (BasicBlock, 16, 16, 1),
])
@pytest.mark.parametrize("se_reduction", [None, 1, 4])
def test_blocks_match_reference(block_cls, inplanes, planes, stride, se_reduction, randomize):
    torch.manual_seed(1)
    block = randomize(block_cls(inplanes, planes, stride=stride, se_reduction=se_reduction), seed=3).eval()
    x = torch.randn(2, inplanes, 9, 8)
    torch.testing.assert_close(block(x), ref_block(x, block), rtol=1e-4, atol=1e-5)
    if block_cls is Bottleneck and stride == 2:
        assert block.conv2.stride == (2, 2) and block.conv1.stride == (1, 1)


@pytest.mark.parametrize("depth", [18, 50])
def test_trunk_without_se_equals_torchvision(depth, randomize):
    """With se="none" the trunk is torchvision's resnetXX minus the classifier: same keys,
    same shapes (strict load) and the same features."""
    ours = ResNet(depth, se="none").eval()
    tv = getattr(torchvision.models, f"resnet{depth}")(weights=None)
    randomize(tv, seed=5).eval()
    tv_state = {k: v for k, v in tv.state_dict().items() if not k.startswith("fc.")}
    ours.load_state_dict(tv_state, strict=True)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        expected = tv.layer4(tv.layer3(tv.layer2(tv.layer1(tv.maxpool(tv.relu(tv.bn1(tv.conv1(x))))))))
        torch.testing.assert_close(ours(x), expected, rtol=1e-4, atol=1e-5)
    assert ours.out_channels == (2048 if depth == 50 else 512)


@pytest.mark.parametrize("se,expected", [("none", 0), ("first", 4), ("all", 16)])
def test_se_placement(se, expected):
    trunk = ResNet(50, se=se, se_reduction=16)
    with_se = [name for name, m in trunk.named_modules() if isinstance(m, SELayer)]
    assert len(with_se) == expected  # resnet50 has 3 + 4 + 6 + 3 = 16 blocks
    if se == "first":
        assert with_se == ["layer1.0.se", "layer2.0.se", "layer3.0.se", "layer4.0.se"]
    if expected:
        assert trunk.layer4[0].se.fc[0].weight.shape == (2048 // 16, 2048)


@pytest.mark.parametrize("name", ["fastpose_se18", "fastpose_se50"])
def test_fastpose_forward_matches_plain_reference(name, randomize):
    model = randomize(build_sppe(name, num_keypoints=5), seed=7).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        out = model(x)
        expected = ref_fastpose(model, x)
    assert out.shape == (2, 5, 16, 16)
    torch.testing.assert_close(out, expected, rtol=1e-3, atol=1e-4)


def test_normalize_subtracts_mean_and_divides_std():
    model = build_sppe("fastpose_se18", pixel_mean=(0.1, 0.2, 0.3), pixel_std=(0.5, 0.25, 2.0))
    images = torch.rand(2, 3, 4, 5)
    out = model.normalize(images)
    for c, (m, s) in enumerate([(0.1, 0.5), (0.2, 0.25), (0.3, 2.0)]):
        torch.testing.assert_close(out[:, c], (images[:, c] - m) / s)
    as_uint8 = (images * 255).round().to(torch.uint8)
    torch.testing.assert_close(model.normalize(as_uint8), model.normalize(as_uint8.float() / 255.0))


def test_alphapose_normalisation_is_default():
    model = build_sppe("fastpose_se50")
    assert model.pixel_mean == (0.406, 0.457, 0.480) and model.pixel_std == (1.0, 1.0, 1.0)
    images = torch.full((1, 3, 2, 2), 0.5)
    out = model.normalize(images)
    assert torch.allclose(out[0, :, 0, 0], torch.tensor([0.094, 0.043, 0.020]), atol=1e-6)
    assert model.input_size == (256, 192) and model.output_stride == 4 and model.heatmap_size == (64, 48)


def test_normalize_rejects_bad_shape():
    with pytest.raises(SPPEError, match=r"\(N, 3, H, W\)"):
        build_sppe("fastpose_se18").normalize(torch.rand(3, 8, 8))


def test_forward_rejects_sizes_not_multiple_of_32():
    model = build_sppe("fastpose_se18").eval()
    with pytest.raises(SPPEError, match="multiple of 32"):
        model(torch.zeros(1, 3, 64, 48))


def test_init_is_sensible():
    model = build_sppe("fastpose_se18")
    assert torch.all(model.conv_out.bias == 0)
    assert 0.0005 < model.conv_out.weight.std().item() < 0.002
    last = {id(b.bn2) for b in model.modules() if isinstance(b, BasicBlock)}
    assert len(last) == 8  # ResNet-18: 2 + 2 + 2 + 2 blocks
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert all(torch.all(b.bias == 0) for b in bns)
    assert all(torch.all(b.weight == (0 if id(b) in last else 1)) for b in bns)
    w = model.preact.conv1.weight  # kaiming fan_out: std = sqrt(2 / (64 * 7 * 7))
    assert abs(w.std().item() - (2.0 / (64 * 49)) ** 0.5) < 0.003


@pytest.mark.parametrize("name,block_type,count", [("fastpose_se18", BasicBlock, 8), ("fastpose_se50", Bottleneck, 16)])
def test_fresh_residual_blocks_start_as_identity(name, block_type, count):
    # The last BatchNorm of each residual branch starts at weight 0: a fresh block maps x to
    # relu(shortcut(x)), so a block without a projection passes non-negative input unchanged.
    torch.manual_seed(0)
    model = build_sppe(name).eval()
    blocks = [m for m in model.preact.modules() if isinstance(m, block_type)]
    assert len(blocks) == count
    plain = [b for b in blocks if b.downsample is None]
    assert plain
    for block in plain[:3]:
        channels = block.conv1.in_channels
        x = torch.rand(2, channels, 6, 5)
        with torch.no_grad():
            assert torch.equal(block(x), x)
