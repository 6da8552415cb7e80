"""Results files that survive interruption.

:class:`IncrementalResults` appends one JSON line per processed frame to
``<path>.partial.jsonl`` (flushed and fsynced per frame), so a crash or SIGKILL leaves a file
whose every line parses. :meth:`IncrementalResults.finalize` writes the final JSON file
atomically in the chosen layout (see :mod:`rmpe.formats`) and removes the partial file.
Ctrl-C goes through ``finalize`` too (the CLIs call it in ``finally``), so the JSON then
covers every frame processed before the interrupt.
"""
from __future__ import annotations

import json
import os
from typing import Any, Dict, Iterator, List

from .formats import FORMATS, frame_records
from .io import atomic_write_json
from .structures import FrameResult


def partial_path(path: str) -> str:
    return os.fspath(path) + ".partial.jsonl"


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
        records: List[Any] = []
        for line in read_partial(self.partial):
            records.extend(line["records"])
        atomic_write_json(self.path, records)
        os.unlink(self.partial)
        self.closed = True
        return self.path

    def __enter__(self) -> "IncrementalResults":
        return self

    def __exit__(self, *exc) -> None:
        self.finalize()


def read_partial(path: str) -> Iterator[Dict[str, Any]]:
    """Parse a ``.partial.jsonl`` file; a last line cut short by a crash is skipped."""
    with open(path, "r", encoding="utf-8") as fh:
        for line in fh:
            if not line.endswith("\n"):
                break  # torn last write
            yield json.loads(line)
