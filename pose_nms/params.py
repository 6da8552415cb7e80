"""Parameters of the parametric pose NMS, and the YAML file the parameter search writes.

The field names are the keys of the ``pose_nms:`` section of an rmpe experiment config, so a
file written by :func:`save_params` can be read back as that section (or pointed to with its
``params_file`` key).

Two distance modes exist (DESIGN.md section 5):

* ``"pixel"`` (AlphaPose, the default): joint distances are measured in image pixels.
  Constants for COCO: delta1 1, delta2 2.65, mu 1.7, gamma 22.48, and the joint-count rule
  (``match_threshold`` joints within ``min(ref_dist, 7)`` px suppress a pose).
* ``"normalized"`` (the original RMPE paper): every distance in the similarity is divided by
  the taken pose's ``ref_dist`` (alpha x the longer side of its box). The paper's constants map
  onto the same fields: sigma1 -> ``delta1`` = 0.01, sigma2 -> ``delta2`` = 2.08,
  lambda -> ``mu`` = 2.08, eta -> ``gamma`` = 22.48; the joint-count rule is off in this mode
  (``match_threshold`` is ignored). See :meth:`PoseNMSParams.rmpe`.
"""
from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Dict, Literal, Mapping, Optional, Union

import yaml

from ._io import atomic_write
from .errors import PoseNMSError

PathLike = Union[str, "os.PathLike[str]"]

#: Config keys of the ``pose_nms:`` section that are not NMS parameters; a parameter file may
#: carry them (it may be a copy of the whole section), :func:`load_params` ignores them.
OTHER_SECTION_KEYS = ("type", "oks_threshold", "params_file")

#: The four constants the parameter search tunes.
SEARCHABLE = ("delta1", "delta2", "mu", "gamma")


@dataclass(frozen=True)
class PoseNMSParams:
    """Constants of :func:`pose_nms.parametric_pose_nms`.

    Attributes:
        delta1: softness of the keypoint-score term, tanh(s / delta1).
        delta2: length scale of the distance term, exp(-d / delta2) (pixels, or units of
            ref_dist in normalized mode).
        mu: weight of the distance term.
        gamma: similarity above which a pose is suppressed.
        score_threshold: a person whose largest keypoint score before or after merging is below
            this is dropped.
        match_threshold: a pose with at least this many joints within min(ref_dist, 7) px of the
            taken pose is suppressed (pixel mode only).
        alpha: ref_dist = alpha x max(box width, box height) of a pose.
        min_area: a person whose merged keypoint extent x 2.25 is below this area (px^2) is
            dropped.
        distance: ``"pixel"`` or ``"normalized"`` (see the module docstring).
    """

    delta1: float = 1.0  #: softness of the keypoint-score term tanh(s / delta1), > 0
    delta2: float = 2.65  #: length scale of the distance term exp(-d / delta2), > 0 (px, or ref_dist units)
    mu: float = 1.7  #: weight of the distance term, >= 0
    gamma: float = 22.48  #: similarity above which a pose is suppressed
    score_threshold: float = 0.3  #: drop a person whose largest keypoint score (before or after merging) is below this
    match_threshold: int = 5  #: suppress a pose with this many joints within min(ref_dist, 7) px, >= 1 (pixel mode)
    alpha: float = 0.1  #: ref_dist = alpha x the longer box side, > 0
    min_area: float = 0.0  #: drop a person whose keypoint extent x 2.25 is below this area (px^2), >= 0
    distance: Literal["pixel", "normalized"] = "pixel"  #: ``pixel`` (AlphaPose) or ``normalized`` (RMPE paper)

    def __post_init__(self) -> None:
        for name in ("delta1", "delta2", "mu", "gamma", "score_threshold", "alpha", "min_area"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise PoseNMSError(f"pose NMS parameter '{name}' must be a finite number, got {value!r}")
            object.__setattr__(self, name, float(value))
        for name in ("delta1", "delta2", "alpha"):
            if getattr(self, name) <= 0:
                raise PoseNMSError(f"pose NMS parameter '{name}' must be > 0, got {getattr(self, name)}")
        for name in ("mu", "gamma", "min_area"):
            if getattr(self, name) < 0:
                raise PoseNMSError(f"pose NMS parameter '{name}' must be >= 0, got {getattr(self, name)}")
        m = self.match_threshold
        if isinstance(m, float) and m.is_integer():
            m = int(m)
            object.__setattr__(self, "match_threshold", m)
        if isinstance(m, bool) or not isinstance(m, int) or m < 1:
            raise PoseNMSError(
                f"pose NMS parameter 'match_threshold' must be an integer >= 1, got {self.match_threshold!r}"
            )
        if self.distance not in ("pixel", "normalized"):
            raise PoseNMSError(
                f"pose NMS parameter 'distance' must be 'pixel' or 'normalized', got {self.distance!r}"
            )

    @classmethod
    def rmpe(cls, **overrides: Any) -> "PoseNMSParams":
        """The original RMPE variant: normalized distances, sigma1 0.01, sigma2 2.08,
        lambda 2.08, eta 22.48, no joint-count rule."""
        values = dict(delta1=0.01, delta2=2.08, mu=2.08, gamma=22.48, distance="normalized")
        values.update(overrides)
        return cls(**values)

    @classmethod
    def from_config(cls, config: Any) -> "PoseNMSParams":
        """Build from an object (or mapping) with the ``pose_nms:`` section's attribute names.

        Duck-typed: any attribute among the field names is used, the others keep their
        defaults. When ``config.params_file`` is set, that file is loaded instead (the search
        output overrides the section's constants).
        """
        if config is None:
            return cls()
        if type(config) is PoseNMSParams:
            return config
        get = config.get if isinstance(config, Mapping) else (lambda k, d=None: getattr(config, k, d))
        params_file = get("params_file", None)
        if params_file:
            return load_params(params_file)
        values = {f.name: get(f.name) for f in fields(cls) if get(f.name, None) is not None}
        return cls(**values)

    def replace(self, **changes: Any) -> "PoseNMSParams":
        """A copy with some fields changed (validated)."""
        return replace(self, **changes)

    def to_dict(self) -> Dict[str, Any]:
        """Plain dict in field order (the YAML layout)."""
        return asdict(self)


def resolve_params(params: Any) -> PoseNMSParams:
    """``None`` -> defaults; a :class:`PoseNMSParams` as is; a mapping or config-like object via
    :meth:`PoseNMSParams.from_config`."""
    if params is None:
        return PoseNMSParams()
    if isinstance(params, PoseNMSParams):
        return params
    return PoseNMSParams.from_config(params)


def load_params(path: PathLike) -> PoseNMSParams:
    """Read parameters from YAML (``yaml.safe_load``).

    The file is either a flat mapping of the field names or a mapping with a ``pose_nms:``
    section (e.g. a whole experiment config). The other keys of that config section
    (``type``, ``oks_threshold``, ``params_file``) are accepted and ignored; any other key is
    an error.

    Raises:
        PoseNMSError: missing or unreadable file, bad YAML, unknown key, or a bad value.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise PoseNMSError(f"pose NMS parameter file not found: {path}")
    try:
        with open(path, "r", encoding="utf-8") as fh:
            data = yaml.safe_load(fh)
    except (yaml.YAMLError, UnicodeDecodeError):
        raise PoseNMSError(f"{path}: not a valid YAML file of pose NMS parameters") from None
    if isinstance(data, dict) and isinstance(data.get("pose_nms"), dict):
        data = data["pose_nms"]
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise PoseNMSError(f"{path}: expected a mapping of pose NMS parameters, got {type(data).__name__}")
    names = [f.name for f in fields(PoseNMSParams)]
    values = {}
    for key, value in data.items():
        if key in OTHER_SECTION_KEYS:
            continue
        if key not in names:
            raise PoseNMSError(f"{path}: unknown key '{key}' (known: {', '.join(names)})")
        values[key] = value
    try:
        return PoseNMSParams(**values)
    except PoseNMSError as exc:
        raise PoseNMSError(f"{path}: {exc}") from None


def save_params(path: PathLike, params: PoseNMSParams, comment: Optional[str] = None) -> None:
    """Write parameters as YAML (keys = the ``pose_nms:`` config section's names), atomically.

    Args:
        path: output file; its folder is created if needed.
        params: the parameters.
        comment: optional text written as ``#`` comment lines at the top.
    """
    path = os.fspath(path)
    text = yaml.safe_dump(resolve_params(params).to_dict(), sort_keys=False)
    if comment:
        text = "".join(f"# {line}\n" for line in str(comment).splitlines()) + text
    with atomic_write(path) as fh:
        fh.write(text.encode("utf-8"))
