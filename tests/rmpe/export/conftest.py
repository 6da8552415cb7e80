"""Small exported models shared by the export tests: fastpose_se18 at 128x96, plain and with a
non-identity STN, their checkpoints and their .onnx files (exported once per session)."""
import pytest

pytest.importorskip("onnx", reason="the export tests need onnx (pip install -e '.[export]')")
pytest.importorskip("onnxruntime", reason="the export tests need onnxruntime (pip install -e '.[export]')")

import torch  # noqa: E402

SMALL = ["model.name=fastpose_se18", "model.input_size=[128, 96]", "model.heatmap_size=[32, 24]", "device=cpu"]

#: The STN's known non-identity transform, normalised (affine_grid) 2x3, row-major.
STN_THETA = (0.9, 0.1, 0.05, -0.08, 1.1, -0.03)


def small_config(stn: bool):
    from rmpe.config import load_config

    return load_config(overrides=SMALL + [f"model.stn={'true' if stn else 'false'}"])


def small_model(stn: bool):
    """A random-weight RMPE model whose heatmaps reach about 1 (the last conv is scaled up, so a
    1e-4 tolerance is meaningful) and, with ``stn``, whose STN outputs :data:`STN_THETA`."""
    from rmpe.model import RMPEModel

    torch.manual_seed(1)
    model = RMPEModel.from_config(small_config(stn), load_init=False).eval()
    with torch.no_grad():
        model.sppe.conv_out.weight.mul_(300.0)
        if stn:
            model.stn.fc_theta.bias.copy_(torch.tensor(STN_THETA))
    return model


@pytest.fixture(scope="session")
def exported(tmp_path_factory):
    """{stn: (model, config, checkpoint path, onnx path)} for stn in (False, True)."""
    from rmpe.checkpoints import save_model_checkpoint
    from rmpe.export.onnx import export_onnx

    folder = tmp_path_factory.mktemp("exported")
    out = {}
    for stn in (False, True):
        model, cfg = small_model(stn), small_config(stn)
        ckpt = folder / f"small_stn{int(stn)}.pth"
        save_model_checkpoint(ckpt, model, config=cfg.to_dict())
        onnx_path = folder / f"small_stn{int(stn)}.onnx"
        export_onnx(model, str(onnx_path), config=cfg)
        out[stn] = (model, cfg, ckpt, onnx_path)
    return out
