"""Export an ultralytics YOLO detector with ultralytics' own exporter (OpenVINO or ONNX).

The result is what :class:`detectors.UltralyticsDetector` (``--detector PATH``) loads like a
``.pt`` file, with the same ``detector:`` settings: an OpenVINO folder ``<name>_openvino_model/``
or an ``.onnx`` file. On a CPU the OpenVINO export runs several times faster than the
PyTorch model (BENCHMARKS.md, "CPU real time").

The weights go through the same checks as the detector's (:func:`resolve_weights`, and
:func:`check_weights_pickle` for a local ``.pt`` unless ``trust_weights``); a model
definition such as ``yolov8n.yaml`` gives a randomly initialised model (no download), useful
for speed measurements. The export runs in a temporary folder and its result is renamed into
place, so a failed export leaves nothing half-written and never touches the input's folder.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Optional, Sequence, Union

from .errors import DetectorError
from .ultralytics_detector import (UltralyticsDetector, _first_line, _import_ultralytics, check_weights_pickle,
                                   resolve_weights)

#: ``format`` values and the suffix of what each writes.
EXPORT_FORMATS = {"openvino": "_openvino_model", "onnx": ".onnx"}


def default_export_path(weights: Union[str, "os.PathLike[str]"], fmt: str) -> Path:
    """Where ultralytics would put the export of ``weights``: beside it, ``yolov8n.pt`` ->
    ``yolov8n_openvino_model`` / ``yolov8n.onnx`` (a bare ``.yaml`` name: in the working folder)."""
    path = Path(os.fspath(weights))
    suffix = EXPORT_FORMATS[fmt]
    return path.with_name(path.stem + suffix)


def export_detector(
    weights: Union[str, "os.PathLike[str]"],
    fmt: str = "openvino",
    out: Optional[Union[str, "os.PathLike[str]"]] = None,
    *,
    imgsz: Union[int, Sequence[int]] = 640,
    half: bool = False,
    batch: int = 1,
    trust_weights: bool = False,
    allow_download: bool = False,
) -> Path:
    """Export YOLO ``weights`` to ``fmt`` with ``ultralytics.YOLO(...).export``.

    Args:
        weights: a ``.pt`` file, a model definition (``yolov8n.yaml``: random weights) or a
            name in ultralytics' weights folder.
        fmt: ``openvino`` (a folder) or ``onnx`` (a file).
        out: where to write it (default :func:`default_export_path`); must not exist as a
            folder of another kind, and never names the input.
        imgsz: the input size the exported graph is fixed to, N (square) or (h, w); the
            detector's ``detector.imgsz`` should match it.
        half: float16 weights (OpenVINO: ``half=True``; the CPU plugin then still computes in
            its own precision).
        batch: the graph's fixed batch, frames per call (ultralytics' default 1). Match
            ``detector.batch`` (8 by default) for videos: one call of 8 frames cost about 15 %
            less than 8 calls of one on the 2-core CPU; ultralytics pads a shorter call to it.
        trust_weights: skip the pickle check of a local ``.pt``.
        allow_download: let ultralytics fetch a released name (needs network).

    Returns:
        the written path.

    Raises:
        DetectorError: an unknown format, missing or refused weights, ``out`` naming the input,
            or the exporter failing (one line).
    """
    if fmt not in EXPORT_FORMATS:
        raise DetectorError(f"unknown detector export format '{fmt}' (use {', '.join(EXPORT_FORMATS)})")
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise DetectorError(f"a detector export's batch must be an integer >= 1, got {batch!r}")
    _import_ultralytics(allow_download)
    source = resolve_weights(os.fspath(weights), allow_download)
    local = Path(source)
    is_pt = local.suffix.lower() == ".pt" and local.is_file()
    if not (is_pt or local.suffix.lower() in (".yaml", ".yml")):
        raise DetectorError(f"rmpe-export --detector takes YOLO .pt weights or a .yaml model definition, got {weights}")
    if is_pt and not trust_weights:
        check_weights_pickle(local, shown=source)
    target = Path(os.fspath(out)) if out is not None else default_export_path(local if is_pt else Path(local.name), fmt)
    if is_pt and target.resolve() == local.resolve():
        raise DetectorError(f"--out {target} names the input weights; give another path")
    if fmt == "onnx" and target.suffix.lower() != ".onnx":
        raise DetectorError(f"--out {target}: an ONNX detector export is a file ending in .onnx")
    if target.exists() and (target.is_dir() != (fmt == "openvino")):
        raise DetectorError(f"--out {target} exists and is a {'folder' if target.is_dir() else 'file'}; "
                            f"the {fmt} export is a {'folder' if fmt == 'openvino' else 'file'}")
    from ultralytics import YOLO

    parent = target.absolute().parent
    parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".rmpe-det-", dir=parent) as folder:
        staged = Path(folder) / f"{target.stem if fmt == 'onnx' else 'model'}.pt"
        try:
            if is_pt:
                os.symlink(local.absolute(), staged)  # the export lands beside the staged name
                model = YOLO(str(staged))
            else:
                YOLO(source).save(str(staged))  # a random model, saved so the export lands in the folder
                model = YOLO(str(staged))
            kwargs = UltralyticsDetector._precision_kwargs(True) if half else {}
            if fmt == "onnx":
                kwargs["simplify"] = False  # onnxslim is optional; ultralytics would try to install it
            size = int(imgsz) if isinstance(imgsz, int) else [int(v) for v in imgsz]
            written = Path(model.export(format=fmt, imgsz=size, batch=int(batch), verbose=False, **kwargs))
        except DetectorError:
            raise
        except Exception as exc:  # the exporter's own errors: one line
            raise DetectorError(f"exporting {weights} to {fmt} failed: {_first_line(exc)}") from None
        if target.is_dir():  # a folder cannot be renamed over another: the old one goes first
            shutil.rmtree(target)
        os.replace(written, target)
    return target
