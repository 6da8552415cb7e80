"""Results files that survive interruption.

:class:`IncrementalResults` appends one JSON line per processed frame to
``<path>.partial.jsonl`` (flushed and fsynced per frame), so a crash or SIGKILL leaves a file
whose every line parses. :meth:`IncrementalResults.finalize` writes the final JSON file
atomically in the chosen layout (see :mod:`rmpe.formats`) and removes the partial file.
Ctrl-C and SIGTERM go through ``finalize`` too (the CLIs call it in ``finally``), so the
JSON then covers every frame processed before the interrupt.

After a hard kill (SIGKILL, power loss) only the partial file is left;
:func:`recover_partial` (``rmpe-demo --recover FILE.partial.jsonl``) writes the final JSON
from it, exactly as ``finalize`` would have.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, Optional, Tuple

from .errors import RMPEError
from .formats import FORMATS, frame_records
from .io import atomic_write_json
from .structures import FrameResult

PARTIAL_SUFFIX = ".partial.jsonl"


def partial_path(path: str) -> str:
    """The JSON Lines file written while ``path`` is being produced: ``path + ".partial.jsonl"``."""
    return os.fspath(path) + PARTIAL_SUFFIX


def final_path(partial: str) -> Optional[str]:
    """The final JSON a partial file belongs to (``r.json.partial.jsonl`` -> ``r.json``), else None."""
    partial = os.fspath(partial)
    if partial.endswith(PARTIAL_SUFFIX) and len(partial) > len(PARTIAL_SUFFIX):
        return partial[: -len(PARTIAL_SUFFIX)]
    return None


class IncrementalResults:
    """Append-per-frame JSON Lines, finalised into one JSON file.

    Args:
        path: the final JSON file.
        fmt: ``alphapose``, ``coco`` or ``openpose``.
    """

    def __init__(self, path: str, fmt: str = "alphapose") -> None:
        if fmt not in FORMATS:
            raise ValueError(f"unknown output format '{fmt}'")
        self.path = os.fspath(path)
        self.fmt = fmt
        folder = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(folder, exist_ok=True)
        self.partial = partial_path(self.path)
        self._fh = open(self.partial, "w", encoding="utf-8")
        self.frames = 0
        self.closed = False

    def write(self, frame: FrameResult) -> None:
        """Append one frame's records (also for a frame without people)."""
        line = {
            "frame": int(frame.index),
            "image_id": frame.image_id if isinstance(frame.image_id, (int, str)) else None,
            "records": frame_records(frame, self.fmt),
        }
        self._fh.write(json.dumps(line) + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self.frames += 1

    def finalize(self) -> str:
        """Write the final JSON atomically from the partial file and remove it. Idempotent."""
        if self.closed:
            return self.path
        self._fh.close()
        lines, _ = load_partial(self.partial)
        atomic_write_json(self.path, gather_records(lines))
        os.unlink(self.partial)
        self.closed = True
        return self.path

    def __enter__(self) -> "IncrementalResults":
        return self

    def __exit__(self, *exc) -> None:
        self.finalize()


def load_partial(path: str) -> Tuple[List[Dict[str, Any]], int]:
    """Parse a ``.partial.jsonl`` file: (its frame lines, 1 if a torn last line was skipped else 0).

    A last line cut short by a crash (no newline, or not valid JSON) is skipped and counted;
    any other line that is not a frame line ``{"frame", "image_id", "records"}`` is an
    :class:`~rmpe.errors.RMPEError` naming the line, since the file is then not a partial
    results file.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise RMPEError(f"partial results file not found: {path}")
    try:
        with open(path, "rb") as fh:
            raw = fh.read().split(b"\n")
    except OSError as exc:
        raise RMPEError(f"cannot read {path} ({exc.strerror or exc})") from None
    # after the last newline: b"" for a clean end, else the torn start of one more line
    text_lines, tail = raw[:-1], raw[-1]
    torn = 1 if tail.strip() else 0
    lines: List[Dict[str, Any]] = []
    for number, text in enumerate(text_lines, 1):
        if not text.strip():
            continue
        try:
            line = json.loads(text.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            if number == len(text_lines) and not torn:
                torn = 1  # the crash left a complete-looking but broken last line
                continue
            raise RMPEError(f"{path}, line {number}: not valid JSON; not a partial results file "
                            "written by rmpe-demo") from None
        if not (isinstance(line, dict) and isinstance(line.get("records"), list) and "frame" in line):
            raise RMPEError(f"{path}, line {number}: not a frame line {{\"frame\", \"image_id\", \"records\"}}; "
                            "not a partial results file written by rmpe-demo")
        lines.append(line)
    return lines, torn


def read_partial(path: str) -> Iterator[Dict[str, Any]]:
    """The frame lines of a ``.partial.jsonl`` file; a last line cut short by a crash is skipped."""
    yield from load_partial(path)[0]


def gather_records(lines: List[Dict[str, Any]]) -> List[Any]:
    """The final JSON's records: every frame line's records, in file order."""
    records: List[Any] = []
    for line in lines:
        records.extend(line["records"])
    return records


@dataclass
class Recovered:
    """What :func:`recover_partial` did: the final JSON written, the frames in it, torn lines skipped."""

    path: str
    frames: int
    torn: int


def recover_partial(partial: str, out: Optional[str] = None) -> Recovered:
    """Write the final JSON from a partial file left by a hard kill; the partial file is kept.

    Args:
        partial: ``FILE.partial.jsonl``.
        out: the final JSON (default ``FILE``, the name the interrupted run would have written).

    The result is byte-identical to what :meth:`IncrementalResults.finalize` writes for the
    same lines. The caller checks ``out`` (see :func:`rmpe.io.check_output_path`).
    """
    partial = os.fspath(partial)
    out = os.fspath(out) if out is not None else final_path(partial)
    if out is None:
        raise RMPEError(f"{partial} does not end in {PARTIAL_SUFFIX}; name the final file with --json")
    lines, torn = load_partial(partial)
    atomic_write_json(out, gather_records(lines))
    return Recovered(out, len(lines), torn)
