"""Atomic file writes: write to a temporary name in the same folder, then rename into place."""
from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from typing import Any, Iterator, Union

PathLike = Union[str, "os.PathLike[str]"]


def read_json(path: PathLike, what: str = "JSON file") -> Any:
    """Load a JSON file; a missing, unreadable or malformed file is an RMPEError naming ``what``."""
    from .errors import RMPEError

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise RMPEError(f"{what} not found: {path}")
    try:
        with open(path, "r", encoding="utf-8") as fh:
            return json.load(fh)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RMPEError(f"{what} {path} is not valid JSON ({str(exc).splitlines()[0][:120]})") from None


@contextmanager
def atomic_open(path: PathLike, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[Any]:
    """Open a temporary file beside ``path``; on success it replaces ``path``, on error it is removed."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=folder)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the file the usual permissions
    binary = "b" in mode
    try:
        with os.fdopen(fd, mode, encoding=None if binary else encoding) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_text(path: PathLike, text: str) -> None:
    with atomic_open(path, "w") as fh:
        fh.write(text)


def atomic_write_json(path: PathLike, obj: Any, indent: int | None = None) -> None:
    with atomic_open(path, "w") as fh:
        json.dump(obj, fh, indent=indent)
