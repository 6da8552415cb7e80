"""Command-line options shared by every tool that runs the pose pipeline (rmpe-demo, rmpe-eval),
and the parser class of all five CLIs (:class:`ArgumentParser`: a bad argument is one line).

Each inference flag is a shorthand for a config key, applied after the ``--set`` overrides,
so a flag means the same thing in every tool and in a config file:

=================================  ==================================
flag                               config key
=================================  ==================================
``--flip`` / ``--no-flip``         ``inference.flip``
``--decoder {argmax,dark}``        ``inference.decoder``
``--nms {parametric,oks,none}``    ``pose_nms.type``
``--batch N``                      ``inference.batch`` (frames per step)
``--sppe-batch N``                 ``inference.sppe_batch`` (crops per SPPE call)
``--half`` / ``--no-half``         ``inference.half`` (fp16 on CUDA, bf16 on CPUs with bf16)
``--threads N``                    ``inference.threads`` (CPU threads; 0: automatic)
``--pipelined`` / ``--no-...``     ``inference.pipelined`` (detection on a second thread)
``--score MODE``                   ``inference.score``
``--device D``                     ``device``
``--backend B``                    ``inference.backend`` (torch, onnxruntime, openvino)
=================================  ==================================

With ``--backend onnxruntime`` / ``openvino`` the checkpoint is an ``.onnx`` file written by
``rmpe-export``; its metadata holds the config it was exported with, which then plays the
role of a checkpoint's stored config (docs/export.md).
"""
from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Callable, List, Optional

from ..errors import RMPEError

if TYPE_CHECKING:  # the config (and torch behind it) is imported only when a tool needs it
    from ..config import Config


class UsageError(RMPEError):
    """A bad command line (unknown flag, missing or malformed value)."""


class ArgumentParser(argparse.ArgumentParser):
    """The parser of every rmpe CLI: a bad argument is one line, not the usage block.

    ``error()`` raises :class:`UsageError`; :func:`rmpe.errors.cli_main` prints it as
    ``rmpe-xxx: error: <message> (see --help)`` and returns exit status 2. Sub-commands
    (``rmpe-pgpg fit``) use the same class, so they behave alike.
    """

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{message} (see --help)")


def int_at_least(low: int):
    """An argparse ``type``: an integer ``>= low`` (``--max-images 0`` is a usage error)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got '{text}'") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, got {value}")
        return value

    parse.__name__ = f"integer >= {low}"
    return parse


def float_in(low: float, high: float):
    """An argparse ``type``: a finite number in ``[low, high]`` (``nan`` and ``inf`` are refused)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got '{text}'") from None
        if not (low <= value <= high):  # also False for nan
            raise argparse.ArgumentTypeError(f"must be a number in [{low:g}, {high:g}], got {text}")
        return value

    parse.__name__ = f"number in [{low:g}, {high:g}]"
    return parse


#: (flag attribute, config key) of the inference flags, in the order they are applied.
FLAG_KEYS = (
    ("flip", "inference.flip"),
    ("decoder", "inference.decoder"),
    ("nms", "pose_nms.type"),
    ("batch", "inference.batch"),
    ("sppe_batch", "inference.sppe_batch"),
    ("half", "inference.half"),
    ("score", "inference.score"),
    ("device", "device"),
    ("backend", "inference.backend"),
    ("threads", "inference.threads"),
    ("pipelined", "inference.pipelined"),
)


def add_config_args(p: argparse.ArgumentParser) -> None:
    """``--config``, ``--set`` and ``--quiet``."""
    p.add_argument("--config", default=None, help="experiment YAML (default: built-in FastPose-50 COCO settings)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="config override, repeatable (e.g. --set pose_nms.gamma=20); see docs/configuration.md")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def add_inference_args(p: argparse.ArgumentParser) -> None:
    """The pipeline flags of the table above (every default: the config's value)."""
    g = p.add_argument_group("inference (each flag overrides the config key in brackets)")
    g.add_argument("--flip", action=argparse.BooleanOptionalAction, default=None,
                   help="flip test: average with the mirrored crops' heatmaps [inference.flip]")
    g.add_argument("--decoder", choices=("argmax", "dark"), default=None, help="heatmap decoder [inference.decoder]")
    g.add_argument("--nms", choices=("parametric", "oks", "none"), default=None,
                   help="redundant-pose removal [pose_nms.type]")
    g.add_argument("--batch", type=int_at_least(1), default=None, help="frames (images) per pipeline step [inference.batch]")
    g.add_argument("--sppe-batch", type=int_at_least(1), default=None, help="crops per SPPE call [inference.sppe_batch]")
    g.add_argument("--half", action=argparse.BooleanOptionalAction, default=None,
                   help="reduced precision for the pose network: fp16 on CUDA, bf16 on CPUs with bf16 "
                        "instructions (torch, openvino; onnxruntime stays fp32); one line says which ran "
                        "[inference.half]")
    g.add_argument("--score", choices=("pose_nms", "box", "box_x_keypoints"), default=None,
                   help="person score written to the results [inference.score]")
    g.add_argument("--device", default=None, help="auto, cpu, cuda or cuda:N [device]")
    g.add_argument("--backend", choices=("torch", "onnxruntime", "openvino"), default=None,
                   help="what runs the networks: torch (.pth checkpoint) or onnxruntime / openvino "
                        "(.onnx from rmpe-export) [inference.backend]")
    g.add_argument("--threads", type=int_at_least(0), default=None,
                   help="CPU threads of the pose network; 0: automatic (rmpe-demo pipelined on a CPU with a torch or "
                        "onnxruntime pose network: half the cores, the other half to the detector; elsewhere every "
                        "core) [inference.threads]")
    g.add_argument("--pipelined", action=argparse.BooleanOptionalAction, default=None,
                   help="detect the next batch on a second thread while poses are estimated (default: "
                        "automatic, on except for an OpenVINO pose network on the CPU) [inference.pipelined]")


def flag_overrides(args: argparse.Namespace) -> List[str]:
    """``KEY=VALUE`` overrides for the inference flags that were given."""
    out = []
    for attr, key in FLAG_KEYS:
        value = getattr(args, attr, None)
        if value is not None:
            out.append(f"{key}={str(value).lower() if isinstance(value, bool) else value}")
    return out


def config_from_args(args: argparse.Namespace, checkpoint: Optional[str] = None,
                     log: Optional[Callable[[str], None]] = None) -> "Config":
    """The config of ``--config``, then ``--set`` overrides, then the inference flags.

    With ``checkpoint`` (an ``rmpe-train`` checkpoint that stores its config):

    * without ``--config`` the stored config is the base (``log`` is told
      ``using the config stored in <checkpoint>``);
    * with ``--config``, the two must agree on the architecture keys
      (:data:`rmpe.checkpoints.ARCHITECTURE_KEYS`, after ``--set``); a difference is an
      RMPEError naming every differing key.

    Checkpoints without a config (AlphaPose's) change nothing. An ``.onnx`` checkpoint's
    stored config is the one in its rmpe metadata. The checkpoint must fit the backend
    (:func:`rmpe.export.runtime.check_backend`: ``.onnx`` for onnxruntime / openvino, a
    PyTorch file for torch, the runtime's package installed), checked before anything loads.
    """
    from ..checkpoints import architecture_differences
    from ..config import as_config, config_from_dict

    overrides = list(args.overrides) + flag_overrides(args)
    if checkpoint is not None and getattr(args, "backend", None) is not None:
        from ..export.runtime import check_backend

        check_backend(args.backend, checkpoint)  # before the file is read
    stored = _stored_config(checkpoint) if checkpoint is not None else None
    if stored is None:
        return _checked(as_config(args.config, overrides), checkpoint)
    if args.config is None:
        from ..config import apply_overrides

        cfg = config_from_dict(apply_overrides(stored, overrides),
                               f"the config stored in {checkpoint}" + (" (with --set)" if overrides else ""))
        if log is not None:
            log(f"using the config stored in {checkpoint}")
        return _checked(cfg, checkpoint)
    cfg = as_config(args.config, overrides)
    saved = config_from_dict(stored, f"the config stored in {checkpoint}")
    diff = architecture_differences(cfg, saved)
    if diff:
        keys = "; ".join(f"{k}: {a} (config) vs {b} (checkpoint)" for k, (a, b) in diff.items())
        raise RMPEError(f"{args.config} does not describe the model in {checkpoint}: {keys}; "
                        "leave out --config to use the checkpoint's own")
    return _checked(cfg, checkpoint)


def _stored_config(checkpoint: str):
    """The config stored in a checkpoint: an rmpe-train ``.pth`` or an rmpe-export ``.onnx``."""
    from ..checkpoints import migrate_config_dict, stored_config
    from ..export.runtime import is_onnx_path

    if is_onnx_path(checkpoint):
        from ..export.metadata import read_metadata

        data = read_metadata(checkpoint).config
        return migrate_config_dict(data) if isinstance(data, dict) and data else None
    return stored_config(checkpoint)


def _checked(cfg: "Config", checkpoint: Optional[str]) -> "Config":
    """``cfg`` after checking that ``checkpoint`` fits its ``inference.backend``."""
    if checkpoint is not None:
        from ..export.runtime import check_backend

        check_backend(cfg.inference.backend, checkpoint)
    return cfg


def stderr_log(prog: str) -> Callable[[str], None]:
    """A ``log`` for :func:`config_from_args`: one ``prog: message`` line on stderr."""
    import sys

    return lambda message: print(f"{prog}: {message}", file=sys.stderr)
