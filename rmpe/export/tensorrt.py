"""TensorRT engines from an exported ONNX pose model (``rmpe-export --engine model.plan [--fp16]``).

Needs the ``tensorrt`` package (``pip install -e ".[tensorrt]"``) and an NVIDIA GPU;
:func:`check_tensorrt` says in one line which is missing, before any work starts. An engine
is tied to the GPU model and TensorRT version that built it.
"""
from __future__ import annotations

from typing import Any, Optional, Tuple

from ..errors import RMPEError
from ..io import atomic_open


def check_tensorrt() -> Any:
    """The ``tensorrt`` module, or one :class:`RMPEError` line naming what is missing.

    Raises:
        RMPEError: no ``tensorrt`` package, or no CUDA GPU visible.
    """
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        raise RMPEError('--engine needs TensorRT and an NVIDIA GPU: the tensorrt package is not installed '
                        '(pip install -e ".[tensorrt]" on a machine with CUDA)') from None
    try:
        import torch

        gpu = torch.cuda.is_available()
    except ImportError:  # pragma: no cover - torch is a base requirement
        gpu = False
    if not gpu:
        raise RMPEError("--engine needs TensorRT and an NVIDIA GPU: no CUDA device is visible")
    return tensorrt


def build_engine(
    onnx_bytes: bytes,
    out: str,
    *,
    input_name: str,
    input_shape: Tuple[int, int, int],
    fp16: bool = False,
    batch: Optional[int] = None,
    max_batch: int = 256,
    opt_batch: int = 64,
    workspace_gib: float = 4.0,
) -> str:
    """Build a serialized TensorRT engine from ONNX bytes and write it atomically to ``out``.

    Args:
        onnx_bytes: the serialized ONNX model (from :func:`rmpe.export.onnx.export_onnx`).
        out: the ``.plan`` path.
        input_name: the graph input (``crops``).
        input_shape: (3, H, W) of one crop.
        fp16: allow float16 kernels (``BuilderFlag.FP16``).
        batch: fixed batch size, or None for the dynamic profile 1 .. ``max_batch``
            (optimised for ``opt_batch``).
        workspace_gib: builder workspace memory limit.

    Returns:
        ``out``.

    Raises:
        RMPEError: TensorRT or a GPU missing, or the ONNX parser / builder failing.
    """
    trt = check_tensorrt()
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    flags = 0
    if hasattr(trt, "NetworkDefinitionCreationFlag") and hasattr(trt.NetworkDefinitionCreationFlag, "EXPLICIT_BATCH"):
        flags = 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)  # implicit in TensorRT 10
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(onnx_bytes):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise RMPEError(f"--engine: TensorRT cannot parse the ONNX graph ({errors[:300]})")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_gib * (1 << 30)))
    if fp16:
        config.set_flag(trt.BuilderFlag.FP16)
    profile = builder.create_optimization_profile()
    c, h, w = input_shape
    if batch is None:
        opt = min(opt_batch, max_batch)
        profile.set_shape(input_name, (1, c, h, w), (opt, c, h, w), (max_batch, c, h, w))
    else:
        profile.set_shape(input_name, (batch, c, h, w), (batch, c, h, w), (batch, c, h, w))
    config.add_optimization_profile(profile)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RMPEError("--engine: TensorRT could not build an engine from the graph (see its log above)")
    with atomic_open(out, "wb") as fh:
        fh.write(bytes(serialized))
    return out
