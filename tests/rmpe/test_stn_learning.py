"""The STN's training signal, isolated: with a frozen "SPPE" whose heatmaps are sharp by
construction, the localisation net learns from the parallel loss alone to undo a known shift.

This separates the mechanism (LocalizationNet -> pixel theta -> crop' resampling -> frozen
SPPE -> MSE against centred targets) from the quality of a trained SPPE: the ablation's STNs
did not learn to re-centre (docs/ablation.md), and this test says whether the path itself can.
"""
import torch
import torch.nn.functional as F

from rmpe.crop import sample_affine
from rmpe.geometry import theta_to_pixel
from rmpe.stn import LocalizationNet

H, W = 64, 48


def _blob_crops(shift: torch.Tensor, sigma: float = 3.0) -> torch.Tensor:
    """(N,3,H,W) black crops with a bright Gaussian blob at the centre moved by ``shift`` (N,2) px."""
    ys, xs = torch.meshgrid(torch.arange(H, dtype=torch.float32), torch.arange(W, dtype=torch.float32), indexing="ij")
    cx = (W - 1) / 2 + shift[:, 0, None, None]
    cy = (H - 1) / 2 + shift[:, 1, None, None]
    blob = torch.exp(-((xs - cx) ** 2 + (ys - cy) ** 2) / (2 * sigma ** 2))
    return blob[:, None].expand(-1, 3, -1, -1).contiguous()


def frozen_sppe(crops: torch.Tensor) -> torch.Tensor:
    """A sharp, fixed "SPPE": the crop's first channel pooled 4x: (N,1,H/4,W/4) heatmaps."""
    return F.avg_pool2d(crops[:, :1], 4)


def test_localisation_net_learns_to_undo_a_known_shift():
    torch.manual_seed(0)
    net = LocalizationNet(channels=(16, 32, 32, 32), pool_size=(4, 3), hidden=64)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    target = frozen_sppe(_blob_crops(torch.zeros(1, 2)))  # the centred person's heatmap
    losses = []
    for step in range(300):
        shift = (torch.rand(32, 2) * 2 - 1) * 6.0  # the proposal's error, up to 6 px
        crops = _blob_crops(shift)
        theta = theta_to_pixel(net(crops - 0.5), (H, W))  # crop' px -> crop px, as RMPEModel.predict_theta
        stn_crops = sample_affine(crops, theta)
        loss = F.mse_loss(frozen_sppe(stn_crops), target.expand(32, -1, -1, -1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    # The learned theta takes crop''s centre from where the blob is: it follows the shift.
    shift = torch.tensor([[-5.0, 0.0], [5.0, 0.0], [0.0, -5.0], [0.0, 5.0], [3.0, -4.0]])
    with torch.no_grad():
        theta = theta_to_pixel(net(_blob_crops(shift) - 0.5), (H, W))
    centre = torch.tensor([(W - 1) / 2, (H - 1) / 2, 1.0])
    moved = (theta @ centre)[:, :2] - centre[:2]
    first, last = sum(losses[:20]) / 20, sum(losses[-20:]) / 20
    assert last < 0.05 * first, (first, last)  # measured: 150x lower
    assert (moved - shift).abs().max() < 0.5, moved  # measured: within 0.12 px
