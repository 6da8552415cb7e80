"""Proposal generators by name (``train.proposals.type``): one table of name -> class.

>>> gen = build_proposal_generator("jitter", subpatch_probability=0.0)
>>> gen = build_proposal_generator("pgpg", "pgpg.npz", probability=0.8)   # a fitted model file
>>> gen = proposals_from_config({"type": "pgpg", "model": "pgpg.npz", "probability": 0.5})

Generators that are fitted to data (``fitted = True``, i.e. ``pgpg``) are read from the model
file that ``rmpe-pgpg fit`` writes; the others are built from the sampling settings alone.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Dict, List, Optional, Type, Union

from .errors import PGPGError
from .proposals import GroundTruthProposals, JitterProposals, PGPGProposals, ProposalGenerator
from .serialization import read_generator

_REGISTRY: Dict[str, Type[ProposalGenerator]] = {}


def register_proposal_generator(cls: Type[ProposalGenerator]) -> Type[ProposalGenerator]:
    """Class decorator: register a :class:`ProposalGenerator` subclass under its ``kind``.

    A class with ``fitted = False`` must be constructible without arguments; one with
    ``fitted = True`` is read from a model file (its ``from_state`` rebuilds it).
    """
    if cls.kind in _REGISTRY:
        raise ValueError(f"proposal generator {cls.kind!r} is already registered")
    _REGISTRY[cls.kind] = cls
    return cls


for _builtin in (GroundTruthProposals, JitterProposals, PGPGProposals):
    register_proposal_generator(_builtin)


def available_proposal_generators() -> List[str]:
    """Registered proposal generator names."""
    return sorted(_REGISTRY)


def proposal_generator_class(name: str) -> Type[ProposalGenerator]:
    """The class registered under ``name``; raises PGPGError listing the known names."""
    if name not in _REGISTRY:
        raise PGPGError(f"unknown proposal type {name!r}; choose one of {', '.join(available_proposal_generators())}")
    return _REGISTRY[name]


def load_proposal_generator(path: Union[str, "os.PathLike[str]"]) -> ProposalGenerator:
    """Read a generator file written by :func:`pgpg.serialization.save_proposal_generator`."""
    return read_generator(path, _REGISTRY)


def build_proposal_generator(
    type: str = "gt",
    model: Optional[str] = None,
    *,
    probability: float = 1.0,
    subpatch_probability: Optional[float] = None,
    subpatch_min_side: Optional[float] = None,
    min_side: Optional[float] = None,
) -> ProposalGenerator:
    """Build a proposal generator by name.

    Args:
        type: ``"gt"`` (the GT box), ``"jitter"`` (AlphaPose's global Gaussian) or
            ``"pgpg"`` (a fitted model file), or another registered name.
        model: the ``.npz`` / ``.json`` file written by ``rmpe-pgpg fit`` (fitted types only;
            ignored by the others).
        probability: chance a proposal is generated rather than the GT box.
        subpatch_probability, subpatch_min_side, min_side: sampling settings; None keeps the
            default (``pgpg``: the value stored in the file). The ground truth ignores them all.

    Returns:
        A :class:`ProposalGenerator`.

    Raises:
        PGPGError: unknown type, missing or wrong model file, a setting out of range.
    """
    cls = proposal_generator_class(type)
    if cls.fitted:
        if not model:
            raise PGPGError(
                f"proposal type {type!r} needs a model file (train.proposals.model); create one with `rmpe-pgpg fit`"
            )
        generator = load_proposal_generator(model)
        if not isinstance(generator, cls):
            raise PGPGError(f"PGPG model file {model} holds a {generator.kind!r} generator, not a fitted {type!r} model")
    else:
        generator = cls()
    return generator.with_settings(
        probability=probability,
        subpatch_probability=subpatch_probability,
        subpatch_min_side=subpatch_min_side,
        min_side=min_side,
    )


def proposals_from_config(config: Any) -> ProposalGenerator:
    """Build from a config section with ``type``, ``model`` and ``probability``.

    ``config`` may be a mapping or any object with those attributes (e.g. rmpe's
    ``train.proposals`` dataclass); missing ones default to ``gt``, None and 1.0.
    """
    if isinstance(config, Mapping):
        def get(key: str, default: Any = None) -> Any:
            return config.get(key, default)
    else:
        def get(key: str, default: Any = None) -> Any:
            return getattr(config, key, default)
    return build_proposal_generator(get("type", "gt"), get("model"), probability=get("probability", 1.0))
