"""The bottom-up network: shapes per stage, masked L2 with intermediate supervision, learning."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from rmpe.bottomup import LIMBS, encode
from rmpe.bottomup.network import bottomup_losses, build_bottomup, is_bottomup, list_bottomup


@pytest.mark.parametrize("name", list_bottomup())
def test_every_variant_outputs_every_stage_at_stride_4(name):
    torch.manual_seed(0)
    model = build_bottomup(name).eval()
    with torch.no_grad():
        out = model(torch.rand(1, 3, 48, 80))
    assert is_bottomup(name) and not is_bottomup("fastpose_se18")
    assert len(out.fields) == len(model.paf) >= 2 and len(out.maps) == len(model.cpm) >= 1
    for f in out.fields:
        assert f.shape == (1, 2 * len(LIMBS), 12, 20)
    for m in out.maps:
        assert m.shape == (1, 18, 12, 20)


def test_stages_see_features_and_previous_outputs():
    model = build_bottomup("openpose_res50")
    width = model.lateral4.out_channels
    assert model.paf[0][0].in_channels == width
    assert all(s[0].in_channels == width + 2 * len(LIMBS) for s in model.paf[1:])
    assert model.cpm[0][0].in_channels == width + 2 * len(LIMBS)
    assert all(s[0].in_channels == width + 2 * len(LIMBS) + 18 for s in model.cpm[1:])


def test_loss_is_plain_masked_l2_summed_over_stages():
    torch.manual_seed(1)
    model = build_bottomup("openpose_lite")
    out = model(torch.rand(2, 3, 32, 32))
    maps = torch.rand(2, 18, 8, 8)
    fields = torch.rand(2, 42, 8, 8) * 2 - 1
    mask = (torch.rand(2, 8, 8) > 0.3).float()
    got = bottomup_losses(out, maps, fields, mask)
    ref = 0.0
    for pred, target in [(p, fields) for p in out.fields] + [(p, maps) for p in out.maps]:
        p, t, m = pred.detach().double().numpy(), target.double().numpy(), mask.double().numpy()
        total = 0.0
        for b in range(2):
            for c in range(p.shape[1]):
                for y in range(8):
                    for x in range(8):
                        total += m[b, y, x] * (p[b, c, y, x] - t[b, c, y, x]) ** 2
        ref += 0.5 * total / p.size
    assert float(got["total"].detach()) == pytest.approx(ref, rel=1e-5)
    assert float((got["paf"] + got["heatmap"]).detach()) == pytest.approx(ref, rel=1e-5)
    # masked pixels carry no gradient
    m = torch.zeros(2, 8, 8)
    assert float(bottomup_losses(out, maps, fields, m)["total"].detach()) == 0.0


def test_a_few_steps_lower_the_loss_on_a_fixed_batch():
    torch.manual_seed(2)
    model = build_bottomup("openpose_lite")
    images = torch.rand(2, 3, 64, 64)
    people = np.array([[[4 + j % 5, 2 + j] for j in range(17)], [[9 + j % 3, 1 + j] for j in range(17)]], float)
    targets = [encode(people, np.ones((2, 17)), (16, 16)) for _ in range(2)]
    maps, fields, mask = (torch.as_tensor(np.stack(t)) for t in zip(*targets))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(8):
        loss = bottomup_losses(model(images), maps, fields, mask)["total"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.7 * losses[0]
