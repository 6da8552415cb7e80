"""rmpe-export: a pose model as one ONNX graph (and optionally a TensorRT engine).

    rmpe-export --config configs/coco/fastpose_se50_256x192.yaml --checkpoint fast_res50_256x192.pth --out fastpose.onnx
    rmpe-export --checkpoint work_dirs/quickstart/best.pth --out model.onnx --batch 8 --flip
    rmpe-export --checkpoint best.pth --out model.onnx --engine model.plan --fp16   # TensorRT, GPU only
    rmpe-export --detector yolov8n.pt                      # -> yolov8n_openvino_model/ (ultralytics' exporter)
    rmpe-export --detector yolov8n.pt --format onnx --out det.onnx

The graph takes (N,3,H,W) RGB crops (float32 in [0, 1], or uint8 with ``--input-dtype uint8``)
and outputs heatmaps and, for a model with the STN, theta; everything needed to use it is in
its metadata (docs/export.md). The file is checked with onnx.checker and compared with
PyTorch through onnxruntime before it is written (atomically).
"""
from __future__ import annotations

import argparse
import os
import re
import sys
from typing import List, Optional

from ..errors import RMPEError, cli_main
from .options import ArgumentParser, add_config_args, config_from_args, stderr_log


def _batch(text: str):
    if text == "dynamic":
        return "dynamic"
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected 'dynamic' or a positive integer, got '{text}'") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 'dynamic' or at least 1, got {value}")
    return value


def _graph_batch(batch):
    """The pose graph's batch for export_onnx / build_engine: None (dynamic) or a fixed N."""
    return None if batch in (None, "dynamic") else batch


def _size(text: str):
    match = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
    if not match:
        raise argparse.ArgumentTypeError(f"expected HxW such as 256x192, got '{text}'")
    h, w = int(match.group(1)), int(match.group(2))
    if h % 32 or w % 32:
        raise argparse.ArgumentTypeError(f"H and W must be multiples of 32 (the SPPE's stride), got {h}x{w}")
    return h, w


def _imgsz(text: str):
    """``N`` or ``HxW``, multiples of 32 -> int or (h, w)."""
    match = re.fullmatch(r"\s*(\d+)\s*(?:[xX]\s*(\d+)\s*)?", text)
    if not match:
        raise argparse.ArgumentTypeError(f"expected N or HxW such as 480x640, got '{text}'")
    sizes = [int(v) for v in match.groups() if v is not None]
    if any(v < 32 or v % 32 for v in sizes):
        raise argparse.ArgumentTypeError(f"sizes must be positive multiples of 32 (YOLO's stride), got {text}")
    return sizes[0] if len(sizes) == 1 else tuple(sizes)


def build_parser() -> argparse.ArgumentParser:
    p = ArgumentParser(prog="rmpe-export", description="Export a pose model to ONNX (and a TensorRT engine).")
    p.add_argument("--checkpoint", default=None,
                   help="pose model weights (AlphaPose FastPose .pth or rmpe-train checkpoint; without --config, "
                        "an rmpe-train checkpoint's own config is used)")
    p.add_argument("--detector", default=None, metavar="WEIGHTS",
                   help="instead of a pose model: export YOLO weights (.pt, or a .yaml such as yolov8n.yaml for "
                        "random weights) with ultralytics' exporter, for --detector in the other tools")
    p.add_argument("--format", dest="det_format", choices=("openvino", "onnx"), default="openvino",
                   help="with --detector: openvino (a <name>_openvino_model/ folder, default) or onnx")
    p.add_argument("--imgsz", type=_imgsz, default=640, metavar="N|HxW",
                   help="with --detector: the exported input size, square N or HxW such as 384x640 for a 16:9 "
                        "or 480x640 for a 4:3 video (multiples of 32; default 640)")
    p.add_argument("--out", default=None, help="the ONNX file to write (.onnx); never one of the inputs "
                                               "(with --detector: the export's path, default beside the weights)")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset, 16 or newer (GridSample); default 17")
    p.add_argument("--batch", type=_batch, default=None, metavar="dynamic|N",
                   help="batch dimension of the graph: dynamic (default) or a fixed N; with --detector a fixed N "
                        "(default 1; 8, detector.batch's default, is faster on videos)")
    p.add_argument("--input-size", type=_size, default=None, metavar="HxW",
                   help="crop size (default model.input_size); heatmaps are a quarter of it")
    p.add_argument("--input-dtype", choices=("float32", "uint8"), default="float32",
                   help="graph input: float32 RGB in [0, 1] (default) or uint8 RGB 0..255")
    p.add_argument("--half", action="store_true", help="run the SPPE in float16 inside the graph (GPU runtimes)")
    p.add_argument("--flip", action="store_true", help="build the flip test into the graph")
    p.add_argument("--no-verify", dest="verify", action="store_false",
                   help="skip the onnxruntime-vs-PyTorch comparison (onnx.checker still runs)")
    p.add_argument("--engine", default=None, metavar="FILE.plan",
                   help="also build a TensorRT engine (needs tensorrt and an NVIDIA GPU)")
    p.add_argument("--fp16", action="store_true", help="with --engine: allow float16 kernels")
    add_config_args(p)
    return p


def _check(args) -> None:
    """Every input, output and option combination, before the model is built."""
    from ..export.onnx import MIN_OPSET, check_onnx_output_path
    from ..io import check_output_path

    if args.checkpoint is None:
        raise RMPEError("give --checkpoint FILE (a pose model) or --detector WEIGHTS (a YOLO detector)")
    if args.out is None and args.engine is None:
        raise RMPEError("give --out FILE.onnx (and/or --engine FILE.plan)")
    if args.opset < MIN_OPSET:
        raise RMPEError(f"--opset {args.opset}: the graph needs opset {MIN_OPSET} or newer (GridSample)")
    if args.fp16 and args.engine is None:
        raise RMPEError("--fp16 sets the TensorRT engine's precision: use it with --engine FILE.plan "
                        "(for a float16 ONNX graph use --half)")
    if os.path.isdir(args.checkpoint):
        raise RMPEError(f"checkpoint {args.checkpoint} is a folder; give the .pth file")
    if not os.path.isfile(args.checkpoint):
        raise RMPEError(f"checkpoint not found: {args.checkpoint}")
    if args.checkpoint.lower().endswith(".onnx"):
        raise RMPEError(f"--checkpoint {args.checkpoint} is already an ONNX file; give the PyTorch checkpoint (.pth)")
    if args.config is not None and not os.path.isfile(args.config):
        raise RMPEError(f"config not found: {args.config}")
    inputs = [args.checkpoint, args.config]
    if args.out is not None:
        check_onnx_output_path(args.out, inputs=inputs)
    if args.engine is not None:
        if args.out is not None and os.path.abspath(args.engine) == os.path.abspath(args.out):
            raise RMPEError("--engine and --out name the same file; give them different names")
        check_output_path(args.engine, inputs=inputs, flag="--engine")
        from ..export.tensorrt import check_tensorrt

        check_tensorrt()  # one line when TensorRT or the GPU is missing, before the export


def run(args: argparse.Namespace) -> dict:
    """Export as the CLI does; returns the verification report."""
    from ..checkpoints import load_model_checkpoint
    from ..export.onnx import export_onnx, resize_for_export
    from ..model import RMPEModel

    _check(args)
    log = stderr_log("rmpe-export")
    cfg = config_from_args(args, checkpoint=args.checkpoint, log=log)
    model = RMPEModel.from_config(cfg, load_init=False)
    load_model_checkpoint(model, args.checkpoint)
    if args.input_size is not None and tuple(args.input_size) != tuple(model.input_size):
        cfg = resize_for_export(model, cfg, args.input_size)
    proto, report = export_onnx(model, args.out, config=cfg, opset=args.opset, batch=_graph_batch(args.batch),
                                input_dtype=args.input_dtype, flip=args.flip, half=args.half, verify=args.verify)
    if report and not args.quiet:
        diffs = ", ".join(f"{k} {v:.2g}" for k, v in report.items())
        log(f"onnxruntime matches PyTorch (max |diff|: {diffs})")
    if args.out is not None and not args.quiet:
        log(f"wrote {args.out}")
    if args.engine is not None:
        from ..export.metadata import INPUT_NAME
        from ..export.tensorrt import build_engine

        h, w = model.input_size
        build_engine(proto.SerializeToString(), args.engine, input_name=INPUT_NAME, input_shape=(3, h, w),
                     fp16=args.fp16, batch=_graph_batch(args.batch))
        if not args.quiet:
            log(f"wrote {args.engine}")
    return report


def run_detector(args: argparse.Namespace) -> str:
    """``--detector``: ultralytics' exporter (:func:`detectors.export.export_detector`); returns the path."""
    from detectors.errors import DetectorError
    from detectors.export import export_detector

    if args.checkpoint is not None:
        raise RMPEError("--detector exports a YOLO detector: leave out --checkpoint (export the pose model in "
                        "another call)")
    for flag, given in (("--engine", args.engine), ("--fp16", args.fp16), ("--flip", args.flip),
                        ("--input-size", args.input_size)):
        if given:
            raise RMPEError(f"{flag} applies to pose models, not to --detector")
    if args.batch == "dynamic":
        raise RMPEError("--batch dynamic applies to pose models; a detector export has a fixed batch: give --batch N "
                        "(default 1; 8 matches detector.batch)")
    batch = args.batch or 1
    try:
        path = export_detector(args.detector, args.det_format, args.out, imgsz=args.imgsz, half=args.half,
                               batch=batch)
    except DetectorError as exc:
        raise RMPEError(str(exc)) from None
    if not args.quiet:
        size = args.imgsz if isinstance(args.imgsz, int) else f"[{args.imgsz[0]}, {args.imgsz[1]}]"
        also = f" and detector.batch={batch}" if batch > 1 else ""
        stderr_log("rmpe-export")(f"wrote {path} (use it as --detector {path} with detector.imgsz={size}{also})")
    return str(path)


@cli_main
def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    if args.detector is not None:
        run_detector(args)
    else:
        run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
