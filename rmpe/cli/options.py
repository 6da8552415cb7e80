"""Command-line options shared by every tool that runs the pose pipeline (rmpe-demo, rmpe-eval).

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
``--half`` / ``--no-half``         ``inference.half``
``--score MODE``                   ``inference.score``
``--device D``                     ``device``
=================================  ==================================
"""
from __future__ import annotations

import argparse
from typing import List

from ..config import Config, as_config

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
    g.add_argument("--batch", type=int, default=None, help="frames (images) per pipeline step [inference.batch]")
    g.add_argument("--sppe-batch", type=int, default=None, help="crops per SPPE call [inference.sppe_batch]")
    g.add_argument("--half", action=argparse.BooleanOptionalAction, default=None,
                   help="fp16 autocast for the pose network on CUDA [inference.half]")
    g.add_argument("--score", choices=("pose_nms", "box", "box_x_keypoints"), default=None,
                   help="person score written to the results [inference.score]")
    g.add_argument("--device", default=None, help="auto, cpu, cuda or cuda:N [device]")


def flag_overrides(args: argparse.Namespace) -> List[str]:
    """``KEY=VALUE`` overrides for the inference flags that were given."""
    out = []
    for attr, key in FLAG_KEYS:
        value = getattr(args, attr, None)
        if value is not None:
            out.append(f"{key}={str(value).lower() if isinstance(value, bool) else value}")
    return out


def config_from_args(args: argparse.Namespace) -> Config:
    """The config of ``--config``, then ``--set`` overrides, then the inference flags."""
    return as_config(args.config, list(args.overrides) + flag_overrides(args))
