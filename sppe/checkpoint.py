"""Saving and loading SPPE weights: our training checkpoints and plain (AlphaPose) state dicts.

Our checkpoint is one ``torch.save`` file holding a dict::

    {"format": "rmpe-sppe", "format_version": 1,
     "model": state_dict,
     "sppe": {"name", "num_keypoints", "pixel_mean", "pixel_std", "input_size", "output_stride", "arch"},
     ...extra entries given to save_checkpoint (epoch, config, optimizer state, ...)}

Every file is read with ``torch.load(..., weights_only=True)``: a file holding anything other
than tensors and plain containers is refused without running any of its code.
"""
from __future__ import annotations

import collections
import io
import os
import pickle
import pickletools
import warnings
import zipfile
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union

import torch
from torch import Tensor, nn

from ._io import atomic_write
from .errors import SPPEError
from .resnet import RESNET_DEPTHS, Bottleneck

FORMAT = "rmpe-sppe"
FORMAT_VERSION = 1
RESERVED_KEYS = frozenset({"format", "format_version", "model", "sppe"})
#: Prefixes other tools put in front of every key (DataParallel / DDP, torch.compile).
_WRAPPER_PREFIXES = ("module.", "_orig_mod.")

PathLike = Union[str, "os.PathLike[str]"]
_PLAIN_SCALARS = (str, bytes, bytearray, int, float, complex, bool, type(None), torch.Size, torch.dtype, torch.device)


# ---------------------------------------------------------------------------- helpers
def _unwrap(model: nn.Module) -> nn.Module:
    """The bare model inside DataParallel / DistributedDataParallel / torch.compile wrappers."""
    while True:
        if isinstance(model, (nn.DataParallel, nn.parallel.DistributedDataParallel)):
            model = model.module
        elif hasattr(model, "_orig_mod") and isinstance(getattr(model, "_orig_mod"), nn.Module):
            model = model._orig_mod
        else:
            return model


def _shape(t: Tensor) -> Tuple[int, ...]:
    return tuple(int(s) for s in t.shape)


def _check_loadable(value: Any, where: str) -> None:
    """Raise if ``value`` holds something ``torch.load(weights_only=True)`` would refuse."""
    if isinstance(value, Tensor) or type(value) in _PLAIN_SCALARS:
        return
    if type(value) in (dict, collections.OrderedDict):
        for key, item in value.items():
            _check_loadable(key, f"{where} (a key)")
            _check_loadable(item, f"{where}.{key}")
        return
    if type(value) in (list, tuple, set):
        for index, item in enumerate(value):
            _check_loadable(item, f"{where}[{index}]")
        return
    raise SPPEError(
        f"save_checkpoint: {where} is a {type(value).__module__}.{type(value).__qualname__}, which a "
        f"weights-only load cannot read; convert it to plain dicts/lists/str/numbers/tensors first"
    )


#: Globals that ``torch.load(weights_only=True)`` reads in ordinary checkpoints besides ``torch.*``.
_TORCH_SAFE_GLOBALS = frozenset({
    "collections.OrderedDict", "builtins.set", "builtins.frozenset", "builtins.bytearray",
    "builtins.slice", "builtins.complex", "_codecs.encode",
})
_STRING_OPS = frozenset({
    "UNICODE", "SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "STRING", "BINSTRING", "SHORT_BINSTRING",
})
_NO_PUSH_OPS = frozenset({"PROTO", "FRAME", "MARK", "STOP", "MEMOIZE", "PUT", "BINPUT", "LONG_BINPUT"})
#: torch's legacy (non-zip) format is five pickles in a row, then raw storage bytes.
_LEGACY_PICKLES = 5


def _pickle_stream(path: Path) -> Any:
    """The pickle bytes ``torch.load`` would unpickle: a zip checkpoint's ``data.pkl``, else the file."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            names = sorted((n for n in archive.namelist() if n.endswith("data.pkl")), key=len)
            return io.BytesIO(archive.read(names[0]) if names else b"")
    return open(path, "rb")


def pickle_globals(path: PathLike) -> List[str]:
    """Names (``module.name``) of the functions and classes a pickle file refers to, read statically.

    Nothing is unpickled and nothing is imported: the opcodes are only listed
    (:func:`pickletools.genops`). ``STACK_GLOBAL`` names are taken from the strings pushed just
    before it, which is what ``pickle`` itself writes. Used to say what a refused file holds;
    unreadable parts are skipped.

    Args:
        path: a zip checkpoint (its ``data.pkl`` is read), a legacy torch file or a plain pickle.

    Returns:
        the names in order of first appearance (empty when none could be read).
    """
    found: Dict[str, None] = {}
    try:
        stream = _pickle_stream(Path(path))
    except (OSError, zipfile.BadZipFile, KeyError):
        return []
    with stream:
        for _ in range(_LEGACY_PICKLES):
            recent: List[Any] = []
            memo: Dict[int, Any] = {}
            try:
                for opcode, arg, _pos in pickletools.genops(stream):
                    name = opcode.name
                    if name in ("GLOBAL", "INST"):
                        found[str(arg).replace(" ", ".", 1)] = None
                    elif name == "STACK_GLOBAL":
                        module, attr = ([None, None] + recent)[-2:]
                        if isinstance(module, str) and isinstance(attr, str):
                            found[f"{module}.{attr}"] = None
                    if name == "MEMOIZE":
                        memo[len(memo)] = recent[-1] if recent else None
                    elif name in ("PUT", "BINPUT", "LONG_BINPUT"):
                        memo[int(arg)] = recent[-1] if recent else None
                    elif name in ("GET", "BINGET", "LONG_BINGET"):
                        recent.append(memo.get(int(arg)))
                    elif name in _STRING_OPS:
                        recent.append(arg if isinstance(arg, str) else None)
                    elif name not in _NO_PUSH_OPS:
                        recent.append(None)
                    del recent[:-4]
            except Exception:  # noqa: BLE001 - garbage or the end of the pickles: report what was read
                break
    return list(found)


def _refused(path: Path) -> Optional[SPPEError]:
    """The refusal for a file that ``torch.load(weights_only=True)`` rejected, or None when it is no pickle at all.

    Called after ``pickle.UnpicklingError``, the type torch raises for every weights-only
    refusal (zip, legacy and plain-pickle files alike) and also for bytes that are no pickle.
    A zip checkpoint always holds a pickle, so its rejection is a refusal; for other files the
    static list of referenced globals decides.
    """
    foreign = [n for n in pickle_globals(path) if not n.startswith("torch.") and n not in _TORCH_SAFE_GLOBALS]
    if not foreign and not zipfile.is_zipfile(path):
        return None
    names = ", ".join(foreign[:3]) + (", ..." if len(foreign) > 3 else "")
    what = f"; it refers to {names}" if names else ""
    return SPPEError(
        f"checkpoint {path} holds code or objects that are not tensors and was not loaded "
        f"(refused by torch.load(weights_only=True){what}); re-save just its state_dict() from a trusted copy"
    )


def _torch_load(path: PathLike, map_location: Any, mmap: bool = False) -> Any:
    """``torch.load`` with weights_only=True; every failure becomes a one-line SPPEError."""
    path = Path(path)
    if not path.exists():
        raise SPPEError(f"checkpoint {path} does not exist; check the path")
    if path.is_dir():
        raise SPPEError(f"checkpoint {path} is a directory; give the checkpoint file inside it")
    use_mmap = mmap and zipfile.is_zipfile(path)
    try:
        with warnings.catch_warnings():
            # torch warns about pickle protocols of legacy (non-zip) files; irrelevant to users
            warnings.filterwarnings("ignore", message=".*pickle protocol.*")
            return torch.load(path, map_location=map_location, weights_only=True, mmap=use_mmap)
    except pickle.UnpicklingError:
        # never torch's own text: it suggests switching the protection off
        refusal = _refused(path)
        if refusal is not None:
            raise refusal from None
        raise SPPEError(f"{path} is not a PyTorch checkpoint (not a file written by torch.save)") from None
    except PermissionError as exc:
        raise SPPEError(f"cannot read checkpoint {path}: {exc.strerror}") from None
    except Exception as exc:  # noqa: BLE001 - any decoding failure means the file is not a checkpoint
        text = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
        reason = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
        raise SPPEError(f"{path} is not a PyTorch checkpoint (torch.load failed with {reason})") from None


def _is_state_dict(obj: Any) -> bool:
    return (
        isinstance(obj, Mapping)
        and len(obj) > 0
        and all(isinstance(k, str) for k in obj)
        and all(isinstance(v, Tensor) for v in obj.values())
    )


def _strip_wrapper_prefixes(state: Mapping[str, Tensor]) -> Dict[str, Tensor]:
    state = dict(state)
    changed = True
    while changed:
        changed = False
        for prefix in _WRAPPER_PREFIXES:
            if state and all(k.startswith(prefix) for k in state):
                state = {k[len(prefix):]: v for k, v in state.items()}
                changed = True
    return state


def read_checkpoint(
    path: PathLike, map_location: Any = "cpu", mmap: bool = False
) -> Tuple[Dict[str, Tensor], Optional[Dict[str, Any]], Dict[str, Any]]:
    """Read a checkpoint file (weights-only) and take it apart.

    Args:
        path: our checkpoint, a plain state dict, or a dict holding one under ``"model"`` /
            ``"state_dict"``.
        map_location: passed to ``torch.load``.
        mmap: memory-map the file where its format allows (reading metadata only).

    Returns:
        (state_dict with wrapper prefixes removed, our ``sppe`` metadata or None, the extra
        entries).

    Raises:
        SPPEError: missing file, refused pickle, or not a checkpoint.
    """
    path = Path(path)
    return _split(_torch_load(path, map_location, mmap=mmap), path)


def _split(obj: Any, path: Path) -> Tuple[Dict[str, Tensor], Optional[Dict[str, Any]], Dict[str, Any]]:
    """(state_dict, our metadata or None, extra entries) of a loaded checkpoint object."""
    if isinstance(obj, Mapping) and obj.get("format") == FORMAT:
        version = obj.get("format_version")
        if not isinstance(version, int) or version > FORMAT_VERSION:
            raise SPPEError(
                f"checkpoint {path} has format version {version!r}, this sppe reads up to {FORMAT_VERSION}; "
                f"update rmpe"
            )
        state, meta = obj.get("model"), obj.get("sppe")
        if not _is_state_dict(state) or not isinstance(meta, Mapping):
            raise SPPEError(f"checkpoint {path} is damaged: its 'model' or 'sppe' entry is missing or malformed")
        extra = {k: v for k, v in obj.items() if k not in RESERVED_KEYS}
        return _strip_wrapper_prefixes(state), dict(meta), extra
    if _is_state_dict(obj):
        return _strip_wrapper_prefixes(obj), None, {}
    if isinstance(obj, Mapping):
        for key in ("model", "state_dict"):
            if _is_state_dict(obj.get(key)):
                extra = {k: v for k, v in obj.items() if k != key}
                return _strip_wrapper_prefixes(obj[key]), None, extra
        keys = ", ".join(repr(k) for k in list(obj)[:5]) or "none"
        raise SPPEError(
            f"{path} is not a model checkpoint: a dict holding no state_dict (keys {keys}); "
            f"expected a state_dict or an rmpe checkpoint"
        )
    raise SPPEError(
        f"{path} is not a model checkpoint: it holds a {type(obj).__name__}; "
        f"expected a state_dict or an rmpe checkpoint"
    )


def infer_arch(state_dict: Mapping[str, Tensor]) -> Optional[Dict[str, Any]]:
    """Recover the FastPose architecture from a state dict's keys and shapes.

    Args:
        state_dict: FastPose weights (``preact.*``, ``duc1.*``, ``duc2.*``, ``conv_out.*``),
            wrapper prefixes already removed.

    Returns:
        ``{"depth", "se", "se_reduction", "duc_channels", "num_keypoints"}``, or ``None`` when
        the keys do not form a FastPose network this package can build.
    """
    needed = ("preact.conv1.weight", "duc1.conv.weight", "duc2.conv.weight", "conv_out.weight")
    if any(k not in state_dict for k in needed):
        return None
    counts: List[int] = []
    se_blocks = set()
    se_ratio = None
    for stage in range(1, 5):
        prefix = f"preact.layer{stage}."
        indices = {int(k[len(prefix):].split(".", 1)[0]) for k in state_dict if k.startswith(prefix)}
        if not indices or indices != set(range(len(indices))):
            return None
        counts.append(len(indices))
        for index in indices:
            fc0 = state_dict.get(f"{prefix}{index}.se.fc.0.weight")
            if fc0 is not None:
                se_blocks.add((stage, index))
                hidden, channels = int(fc0.shape[0]), int(fc0.shape[1])
                se_ratio = max(1, channels // max(1, hidden))
    bottleneck = "preact.layer1.0.conv3.weight" in state_dict
    depth = next(
        (d for d, (block, layers) in RESNET_DEPTHS.items()
         if (block is Bottleneck) == bottleneck and tuple(layers) == tuple(counts)),
        None,
    )
    if depth is None:
        return None
    first = {(s, 0) for s in range(1, 5)}
    every = {(s, i) for s in range(1, 5) for i in range(counts[s - 1])}
    if not se_blocks:
        se = "none"
    elif se_blocks == every:
        se = "all"
    elif se_blocks == first:
        se = "first"
    else:
        return None
    return {
        "depth": depth,
        "se": se,
        "se_reduction": se_ratio or 1,
        "duc_channels": [int(state_dict["duc1.conv.weight"].shape[0]), int(state_dict["duc2.conv.weight"].shape[0])],
        "num_keypoints": int(state_dict["conv_out.weight"].shape[0]),
    }


# ---------------------------------------------------------------------------- public API
def save_checkpoint(path: PathLike, model: nn.Module, /, **extra: Any) -> Path:
    """Write ``model``'s weights, its metadata and ``extra`` entries to ``path`` atomically.

    The file is written under a temporary name in the same folder, flushed to disk and
    renamed over ``path``, so a crash never leaves a half-written checkpoint.

    Args:
        path: destination file; missing parent folders are created.
        model: an sppe model (anything with ``metadata()``), optionally wrapped in
            DataParallel / DDP / torch.compile.
        **extra: further entries, e.g. ``epoch=3, config={...}, optimizer=opt.state_dict()``;
            only tensors and plain containers/scalars (a weights-only load must read them).

    Returns:
        the path written.
    """
    target = _unwrap(model)
    if not callable(getattr(target, "metadata", None)):
        raise SPPEError(
            f"save_checkpoint needs an sppe model (built by sppe.build_sppe), got {type(target).__name__}"
        )
    reserved = sorted(RESERVED_KEYS & set(extra))
    if reserved:
        raise SPPEError(
            f"save_checkpoint: {reserved[0]!r} is a reserved entry name; pass that value under another name"
        )
    for key, value in extra.items():
        _check_loadable(value, key)
    payload: Dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "sppe": target.metadata(),
        "model": {k: v.detach().cpu() for k, v in target.state_dict().items()},
    }
    payload.update(extra)

    path = Path(path)
    try:
        with atomic_write(path) as handle:
            torch.save(payload, handle)
    except OSError as exc:
        raise SPPEError(f"cannot write checkpoint {path}: {exc.strerror or exc}") from None
    return path


def load_checkpoint(
    model: nn.Module,
    path: PathLike,
    map_location: Any = "cpu",
    strict: bool = True,
    skip_mismatched: bool = False,
) -> Dict[str, Any]:
    """Load weights into ``model`` from our checkpoint or a plain state dict.

    Accepted files: our checkpoints (:func:`save_checkpoint`), plain state dicts such as
    AlphaPose's zoo files (with or without a ``module.`` prefix), and dicts holding a state
    dict under ``"model"`` or ``"state_dict"``. Our checkpoints also restore the model's
    ``pixel_mean``, ``pixel_std`` and ``input_size``.

    Args:
        model: the model to fill (may be wrapped in DataParallel / DDP / torch.compile).
        path: the checkpoint file.
        map_location: passed to ``torch.load`` (``"cpu"``, ``"cuda:0"``, a device, ...).
        strict: require the checkpoint and the model to have the same keys (missing
            ``num_batches_tracked`` buffers of old files are tolerated and set to 0).
        skip_mismatched: leave parameters whose shape differs (e.g. ``conv_out`` for another
            keypoint count) at their current values instead of failing; a warning names them.

    Returns:
        the checkpoint's extra entries (``epoch``, ``config``, ...); ``{}`` for a plain state dict.

    Raises:
        SPPEError: missing file, not a checkpoint, refused pickle, other keypoint count,
            shape mismatch (names the first key and both shapes), missing/unexpected keys.
    """
    path = Path(path)
    state, meta, extra = read_checkpoint(path, map_location)
    target = _unwrap(model)
    model_name = getattr(target, "name", type(target).__name__)
    origin = f" (saved from {meta.get('name')})" if meta and meta.get("name") not in (None, model_name) else ""
    own = target.state_dict()

    ckpt_k = meta.get("num_keypoints") if meta else None
    if ckpt_k is None and isinstance(state.get("conv_out.weight"), Tensor):
        ckpt_k = int(state["conv_out.weight"].shape[0])
    model_k = getattr(target, "num_keypoints", None)
    if ckpt_k is not None and model_k is not None and int(ckpt_k) != int(model_k) and not skip_mismatched:
        raise SPPEError(
            f"checkpoint {path} has {ckpt_k} keypoints, model expects {model_k}; build the model with "
            f"num_keypoints={ckpt_k} or load with skip_mismatched=True to re-initialise the output layer"
        )

    skipped = []
    for key, value in own.items():
        if key in state and _shape(state[key]) != _shape(value):
            if skip_mismatched:
                skipped.append(key)
                continue
            raise SPPEError(
                f"checkpoint {path}{origin} does not fit {model_name}: {key!r} has shape "
                f"{_shape(state[key])} in the checkpoint but {_shape(value)} in the model"
            )
    for key in skipped:
        del state[key]
    if skipped:
        warnings.warn(f"load_checkpoint: kept the model's own {', '.join(skipped)} (shape differs in {path})")

    for key, value in own.items():
        if key.endswith("num_batches_tracked") and key not in state:
            state[key] = torch.zeros_like(value)
    if strict:
        missing = [k for k in own if k not in state and k not in skipped]
        unexpected = [k for k in state if k not in own]
        if missing or unexpected:
            parts = []
            if missing:
                parts.append(f"{len(missing)} model keys are missing from it (first {missing[0]!r})")
            if unexpected:
                parts.append(f"it has {len(unexpected)} keys the model lacks (first {unexpected[0]!r})")
            raise SPPEError(
                f"checkpoint {path}{origin} does not match {model_name}: {'; '.join(parts)}; "
                f"use the checkpoint's model or load with strict=False"
            )
    target.load_state_dict(state, strict=False)

    if meta:
        for attr in ("pixel_mean", "pixel_std", "input_size"):
            if meta.get(attr) is not None and hasattr(target, attr):
                setattr(target, attr, tuple(meta[attr]))
    return extra
