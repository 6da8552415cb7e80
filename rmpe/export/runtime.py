"""Inference runtimes for exported pose models, behind one small interface.

A runtime wraps an ``.onnx`` file written by ``rmpe-export`` and offers, on numpy arrays:

* :meth:`PoseRuntime.theta`: raw RGB crops (N,3,H,W) float32 in [0, 1] -> theta (N,3,3)
  float32, crop' px -> crop px (only for a model with the STN);
* :meth:`PoseRuntime.heatmaps`: raw RGB crop' (N,3,H,W) float32 in [0, 1] -> heatmaps
  (N,K,h,w) float32 (normalisation is inside the graph);
* :meth:`PoseRuntime.heatmaps_and_features`: the same plus the (N,C) appearance features
  (None for a file without them), from the same run.

Both are cut out of the one exported graph (``onnx.utils.Extractor``): ``crops -> theta`` and
``stn_crops -> heatmaps``. The pipeline therefore keeps the torch path's sampling order: the
torch path cuts crop' once from the full image with ``gamma @ M`` (one interpolation), and so
does the backend path, between the two runtime calls; running the whole graph instead would
resample the crop (two interpolations, and the crop's zero border where theta looks past it).
Without the STN the heatmap part is the whole graph.

:class:`OnnxRuntimeBackend` (CPU, CUDA and TensorRT execution providers where installed) and
:class:`OpenVINOBackend` (OpenVINO's ONNX reader, CPU) implement it. :func:`load_runtime_model`
puts a runtime inside an :class:`rmpe.model.RMPEModel` (as its SPPE and localisation net), so
cropping, decoding, the flip test, SDTN and pose NMS stay the torch path's own code.
"""
from __future__ import annotations

import importlib.util
import os
from typing import Any, List, Optional, Sequence, Tuple

import numpy as np

from ..errors import RMPEError
from ..sigstack import ensure_signal_stack
from .metadata import FEATURES_NAME, HEATMAPS_NAME, THETA_NAME, ExportMetadata, load_onnx, read_metadata

#: Values of ``inference.backend`` / ``--backend``.
BACKENDS = ("torch", "onnxruntime", "openvino")
#: Python package each runtime backend needs.
BACKEND_PACKAGES = {"onnxruntime": "onnxruntime", "openvino": "openvino"}


def _installed(package: str) -> bool:
    """Whether ``package`` can be imported (False also when an import blocker set it to None)."""
    try:
        return importlib.util.find_spec(package) is not None
    except (ImportError, ValueError):
        return False


def is_onnx_path(path: Any) -> bool:
    """True for a path whose name ends in ``.onnx``."""
    return isinstance(path, (str, os.PathLike)) and os.fspath(path).lower().endswith(".onnx")


def check_backend(backend: str, checkpoint: Optional[str]) -> None:
    """Refuse a checkpoint that does not fit ``backend``, or a missing runtime package, in one line.

    ``torch`` takes PyTorch checkpoints; ``onnxruntime`` and ``openvino`` take ``.onnx``
    files written by ``rmpe-export``.

    Raises:
        RMPEError: an unknown backend, an ``.onnx`` file with ``torch``, another file with a
            runtime backend, or the runtime's package not installed.
    """
    if backend not in BACKENDS:
        raise RMPEError(f"unknown backend '{backend}' (use {', '.join(BACKENDS)})")
    if checkpoint is None:
        if backend != "torch":
            raise RMPEError(f"--backend {backend} needs --checkpoint FILE.onnx (written by rmpe-export)")
        return
    if backend == "torch":
        if is_onnx_path(checkpoint):
            raise RMPEError(f"checkpoint {checkpoint} is an ONNX file: run it with --backend onnxruntime or "
                            "--backend openvino (the torch backend takes .pth checkpoints)")
        return
    if not is_onnx_path(checkpoint):
        raise RMPEError(f"--backend {backend} runs an exported .onnx file, got {checkpoint}; export it first with "
                        f"rmpe-export --checkpoint {checkpoint} --out model.onnx, or use --backend torch")
    package = BACKEND_PACKAGES[backend]
    if not _installed(package):
        raise RMPEError(f"--backend {backend} needs the {package} package: pip install -e \".[export]\"")


class PoseRuntime:
    """Base class: an exported pose model on one runtime (numpy in, numpy out).

    Args:
        path: the ``.onnx`` file (written by ``rmpe-export``).
        device: ``cpu`` or ``cuda`` / ``cuda:N`` (what the runtime supports).

    Attributes:
        meta: the file's :class:`ExportMetadata`.
    """

    name = "runtime"

    def __init__(self, path: str, device: str = "cpu") -> None:
        self.path = os.fspath(path)
        if _installed("onnx"):
            proto = load_onnx(self.path)
            self.meta: ExportMetadata = read_metadata(proto)
        else:  # only the runtime installed: the metadata through it, and the whole graph as it is
            proto = None
            if not os.path.isfile(self.path):
                raise RMPEError(f"model not found: {self.path}")
            self.meta = self._metadata_without_onnx()
        meta = self.meta
        if meta.input_dtype != "float32":
            raise RMPEError(f"{self.path}: exported with --input-dtype {meta.input_dtype}; the pipeline's crops are "
                            "interpolated floats: export with --input-dtype float32 to run it as a backend")
        if meta.flip:
            raise RMPEError(f"{self.path}: exported with --flip inside the graph; for the pipeline export without "
                            "--flip and pass --flip to the tool (the same flip test, run outside the graph)")
        self.device = str(device)
        if meta.stn and proto is None:
            raise RMPEError(f"{self.path}: a model with the STN is cut into two graphs (theta, heatmaps), which needs "
                            "the onnx package: pip install onnx")
        self._proto = proto
        self._graphs: dict = {}  # with features (bool) -> the compiled heatmap part
        self._theta = self._compile(_extract(proto, [meta.input_name], [THETA_NAME]), "theta") if meta.stn else None
        self._graph(features=False)  # compiled now, so a file the runtime cannot run fails at load

    def _graph(self, features: bool) -> Any:
        """The compiled heatmap part, with the features output only when asked for: the
        pipeline wants them only while it tracks, and OpenVINO computes every output it is
        given (the pooling behind the features cost a fifth of FastPose-50's time in bf16).
        Compiled on first use and kept."""
        key = bool(features and self.meta.features)
        if key not in self._graphs:
            meta, proto = self.meta, self._proto
            outputs = [HEATMAPS_NAME] + ([FEATURES_NAME] if key else [])
            if proto is None:  # only the runtime installed: the whole file (no STN: checked above)
                graph = self.path
            elif not meta.stn and key == meta.features:  # every output of the file: the graph as it is
                graph = proto
            else:
                graph = _extract(proto, [meta.stn_crops_name if meta.stn else meta.input_name], outputs)
            self._graphs[key] = self._compile(graph, "heatmaps")
        return self._graphs[key]

    # ---------------------------------------------------------------- the interface

    def theta(self, crops: np.ndarray) -> np.ndarray:
        """(N,3,H,W) float32 raw RGB crops in [0, 1] -> (N,3,3) float32 theta, crop' px -> crop px."""
        if self._theta is None:
            raise RMPEError(f"{self.path}: the exported model has no STN, so no theta")
        return self._batched(self._theta, crops)[0]

    def heatmaps(self, crops: np.ndarray) -> np.ndarray:
        """(N,3,H,W) float32 raw RGB crop' in [0, 1] -> (N,K,h,w) float32 heatmaps (crop' frame)."""
        return self._batched(self._graph(features=False), crops)[0]

    def heatmaps_and_features(self, crops: np.ndarray) -> Tuple[np.ndarray, Optional[np.ndarray]]:
        """:meth:`heatmaps` and the (N,C) float32 appearance features of the same run (None
        when the file has none)."""
        out = self._batched(self._graph(features=True), crops)
        return out[0], (out[1] if self.meta.features and len(out) > 1 else None)

    # ---------------------------------------------------------------- per runtime

    def _compile(self, proto: Any, part: str) -> Any:
        """A runnable form of ``proto`` (an ``onnx.ModelProto``, or the file's path)."""
        raise NotImplementedError

    def _metadata_without_onnx(self) -> ExportMetadata:
        """The file's metadata read by the runtime itself (when the onnx package is absent)."""
        raise RMPEError(f"--backend {self.name} needs the onnx package to read {self.path}: pip install onnx")

    def _run(self, compiled: Any, x: np.ndarray) -> List[np.ndarray]:
        """Every output of ``compiled`` on ``x``, in the graph's order."""
        raise NotImplementedError

    def _batched(self, compiled: Any, x: np.ndarray) -> List[np.ndarray]:
        """Every output of ``compiled`` on ``x`` (float32); a fixed-batch graph gets chunks padded with zeros."""
        x = np.ascontiguousarray(x, dtype=np.float32)
        fixed = self.meta.batch
        if fixed is None or x.shape[0] == fixed:
            return [np.asarray(o, dtype=np.float32) for o in self._run(compiled, x)]
        parts: List[List[np.ndarray]] = []
        for start in range(0, x.shape[0], fixed):  # loop over batches, never over people
            chunk = x[start:start + fixed]
            n = chunk.shape[0]
            if n < fixed:
                chunk = np.concatenate([chunk, np.zeros((fixed - n,) + chunk.shape[1:], np.float32)])
            parts.append([np.asarray(o, dtype=np.float32)[:n] for o in self._run(compiled, chunk)])
        return [np.concatenate(group) for group in zip(*parts)]


def _extract(proto: Any, inputs: Sequence[str], outputs: Sequence[str]) -> Any:
    """The subgraph of ``proto`` from the tensors ``inputs`` to ``outputs`` (``onnx.utils.Extractor``)."""
    import onnx.utils

    sub = onnx.utils.Extractor(proto).extract_model(list(inputs), list(outputs))
    del sub.metadata_props[:]
    sub.metadata_props.extend(proto.metadata_props)
    return sub


class OnnxRuntimeBackend(PoseRuntime):
    """onnxruntime: on ``cpu`` the CPU provider; on CUDA, TensorRT then CUDA providers where
    installed (CPU last, for the ops they lack). ``threads`` sets intra-op threads (0: its default)."""

    name = "onnxruntime"

    def __init__(self, path: str, device: str = "cpu", threads: int = 0) -> None:
        try:
            import onnxruntime as ort
        except ImportError:
            raise RMPEError('--backend onnxruntime needs the onnxruntime package: pip install -e ".[export]"') from None
        self._ort = ort
        self.threads = int(threads)
        available = ort.get_available_providers()
        if str(device).startswith("cuda"):
            index = int(str(device).split(":")[1]) if ":" in str(device) else 0
            wanted = [("TensorrtExecutionProvider", {"device_id": index}), ("CUDAExecutionProvider", {"device_id": index})]
            self.providers = [p for p in wanted if p[0] in available]
            if not self.providers:
                raise RMPEError(f"--backend onnxruntime on {device}: this onnxruntime has no CUDA provider "
                                "(install onnxruntime-gpu) or use --device cpu")
            self.providers.append(("CPUExecutionProvider", {}))
        else:
            self.providers = [("CPUExecutionProvider", {})]
        super().__init__(path, device)

    def _compile(self, proto: Any, part: str) -> Any:
        options = self._ort.SessionOptions()
        options.graph_optimization_level = self._ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if self.threads:
            options.intra_op_num_threads = self.threads
            options.inter_op_num_threads = 1
        names = [p[0] for p in self.providers]
        opts = [p[1] for p in self.providers]
        data = proto if isinstance(proto, str) else proto.SerializeToString()
        return self._ort.InferenceSession(data, options, providers=names, provider_options=opts)

    def _metadata_without_onnx(self) -> ExportMetadata:
        from .metadata import METADATA_KEY

        try:
            session = self._ort.InferenceSession(self.path, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own types on foreign bytes
            raise RMPEError(f"{self.path} is not a readable ONNX file ({type(exc).__name__}); "
                            "give a file written by rmpe-export") from None
        props = session.get_modelmeta().custom_metadata_map
        if METADATA_KEY not in props:
            raise RMPEError(f"{self.path}: no '{METADATA_KEY}' metadata; this ONNX file was not written by rmpe-export")
        return ExportMetadata.from_json(props[METADATA_KEY], self.path)

    def _run(self, session: Any, x: np.ndarray) -> List[np.ndarray]:
        name = session.get_inputs()[0].name
        return session.run(None, {name: x})


class OpenVINOBackend(PoseRuntime):
    """OpenVINO through its ONNX reader, always on its CPU plugin whatever ``device`` the
    pipeline's crops and decoding use (``threads``: inference threads, 0: its default).

    ``precision`` is the plugin's ``INFERENCE_PRECISION_HINT``: ``fp32`` (default) or ``bf16``
    (CPUs with bf16 instructions; :func:`rmpe.precision.resolve_precision` decides). The STN's
    theta part is always compiled fp32: theta is geometry.
    """

    name = "openvino"

    def __init__(self, path: str, device: str = "cpu", threads: int = 0, precision: str = "fp32") -> None:
        if precision not in ("fp32", "bf16"):
            raise RMPEError(f"OpenVINO precision must be fp32 or bf16, got {precision}")
        self.precision = precision
        try:
            import openvino as ov
        except ImportError:
            raise RMPEError('--backend openvino needs the openvino package: pip install -e ".[export]"') from None
        self._ov = ov
        self._core = ov.Core()
        ensure_signal_stack()  # OpenVINO's CPU plugin leaves a signal stack too small for AMX (rmpe/sigstack.py)
        self.threads = int(threads)
        super().__init__(path, device)

    def _compile(self, proto: Any, part: str) -> Any:
        import tempfile

        # OpenVINO's ONNX frontend reads files; the extracted part goes through a temporary one
        with tempfile.TemporaryDirectory(prefix="rmpe-ov-") as folder:
            path = proto if isinstance(proto, str) else os.path.join(folder, f"{part}.onnx")
            if not isinstance(proto, str):
                with open(path, "wb") as fh:
                    fh.write(proto.SerializeToString())
            model = self._core.read_model(path)
            hint = "bf16" if self.precision == "bf16" and part == "heatmaps" else "f32"
            config = {"INFERENCE_PRECISION_HINT": hint}
            if self.threads:
                config["INFERENCE_NUM_THREADS"] = self.threads
            compiled = self._core.compile_model(model, "CPU", config)
        ensure_signal_stack()
        return compiled

    def _run(self, compiled: Any, x: np.ndarray) -> List[np.ndarray]:
        result = compiled([x])
        ensure_signal_stack()  # this thread may be new to OpenVINO (e.g. a pipelined worker)
        return [result[out] for out in compiled.outputs]


def build_runtime(backend: str, path: str, device: str = "cpu", threads: int = 0,
                  precision: str = "fp32") -> PoseRuntime:
    """The runtime of ``backend`` (``onnxruntime`` / ``openvino``) for the ``.onnx`` file ``path``.

    ``precision``: ``fp32`` or ``bf16`` (OpenVINO only; onnxruntime runs the graph's own
    precision, see :mod:`rmpe.precision`).
    """
    check_backend(backend, path)
    if backend == "onnxruntime":
        return OnnxRuntimeBackend(path, device, threads)
    if backend == "openvino":
        return OpenVINOBackend(path, device, threads, precision)
    raise RMPEError(f"backend '{backend}' is not a runtime backend (use onnxruntime or openvino)")
