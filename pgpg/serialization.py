"""Proposal generator files: ``.npz`` numpy archives or ``.json``, format ``rmpe-pgpg`` version 1.

A file holds the header entries ``format``, ``version`` and ``mode`` (the generator's
:attr:`~pgpg.proposals.ProposalGenerator.kind`) and the generator's own arrays
(:meth:`~pgpg.proposals.ProposalGenerator.state`): the sampling settings, ``offsets_*`` and,
for PGPG, ``atoms_*``. Archives are read with ``allow_pickle=False``; files are written
atomically (:func:`pgpg._io.atomic_write`).

Which class a ``mode`` names is the registry's knowledge: :func:`generator_from_state` and
:func:`read_generator` take that table (``pgpg.load_proposal_generator`` passes it).
"""
from __future__ import annotations

import json
import os
import zipfile
from typing import Any, Dict, Mapping, Type, Union

import numpy as np

from ._io import atomic_write
from .errors import PGPGError
from .proposals import ProposalGenerator

FORMAT_NAME = "rmpe-pgpg"
FORMAT_VERSION = 1

PathLike = Union[str, "os.PathLike[str]"]


def generator_state(generator: ProposalGenerator) -> Dict[str, np.ndarray]:
    """Numeric and string arrays describing ``generator``, header included (what a file holds)."""
    out: Dict[str, np.ndarray] = {
        "format": np.asarray(FORMAT_NAME),
        "version": np.asarray(FORMAT_VERSION, dtype=np.int64),
        "mode": np.asarray(generator.kind),
    }
    out.update(generator.state())
    return out


def generator_from_state(
    state: Mapping[str, Any], kinds: Mapping[str, Type[ProposalGenerator]], source: str = "the PGPG model"
) -> ProposalGenerator:
    """Inverse of :func:`generator_state`.

    Args:
        state: the arrays.
        kinds: generator class of each ``mode`` name (the registry).
        source: names the file in error messages.

    Raises:
        PGPGError: another format or version, an unknown mode, a missing or malformed entry.
    """
    try:
        if str(np.asarray(state["format"])) != FORMAT_NAME:
            raise PGPGError(f"{source} is not a PGPG model file (format {str(np.asarray(state['format']))!r})")
        version = int(np.asarray(state["version"]))
        if version != FORMAT_VERSION:
            raise PGPGError(f"{source} has PGPG format version {version}; this code reads version {FORMAT_VERSION}")
        mode = str(np.asarray(state["mode"]))
        if mode not in kinds:
            raise PGPGError(f"{source} holds an unknown proposal mode {mode!r}; known: {', '.join(sorted(kinds))}")
        return kinds[mode].from_state(state)
    except KeyError as exc:
        raise PGPGError(f"{source} lacks the entry {exc.args[0]!r}; re-create it with `rmpe-pgpg fit`") from None
    except PGPGError as exc:
        msg = str(exc)
        raise PGPGError(msg if msg.startswith(source) else f"{source}: {msg}") from None
    except (TypeError, ValueError) as exc:
        raise PGPGError(f"{source} holds malformed values ({exc}); re-create it with `rmpe-pgpg fit`") from None


def save_proposal_generator(generator: ProposalGenerator, path: PathLike) -> None:
    """Write ``generator`` to ``path``: ``.json`` as JSON, ``.npz`` as a numpy archive.

    The file is written to a temporary name in the same folder and renamed into place.
    """
    path = os.fspath(path)
    suffix = os.path.splitext(path)[1].lower()
    if suffix not in (".npz", ".json"):
        raise PGPGError(f"PGPG model file {path!r} must end in .npz or .json")
    state = generator_state(generator)
    with atomic_write(path) as fh:
        if suffix == ".npz":
            np.savez(fh, **state)
        else:
            fh.write(json.dumps({key: value.tolist() for key, value in state.items()}).encode("utf-8"))


def read_generator(path: PathLike, kinds: Mapping[str, Type[ProposalGenerator]]) -> ProposalGenerator:
    """Read a file written by :func:`save_proposal_generator`.

    Args:
        path: the ``.npz`` or ``.json`` file.
        kinds: generator class of each ``mode`` name (the registry).

    Raises:
        PGPGError: a missing, unreadable or malformed file.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise PGPGError(f"PGPG model file not found: {path}; create one with `rmpe-pgpg fit`")
    source = f"PGPG model file {path}"
    if path.lower().endswith(".json"):
        try:
            with open(path, "r", encoding="utf-8") as fh:
                doc = json.load(fh)
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise PGPGError(f"{source} is not valid JSON ({exc})") from None
        if not isinstance(doc, dict):
            raise PGPGError(f"{source} must hold a JSON object")
        return generator_from_state({k: np.asarray(v) for k, v in doc.items()}, kinds, source)
    try:
        with np.load(path, allow_pickle=False) as data:
            state = {key: data[key] for key in data.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise PGPGError(f"{source} is not a readable .npz archive ({exc})") from None
    return generator_from_state(state, kinds, source)
