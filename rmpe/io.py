"""File helpers: JSON reading with clear errors, output-path checks, atomic writes.

Atomic writes go to a temporary name in the same folder and are renamed into place.
:func:`check_output_path` is called by the CLIs before any long work, so a bad output
location (a folder where a file is wanted, an unwritable place, one of the inputs) is a
one-line error at start instead of a traceback after the run.
"""
from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from typing import Any, Iterable, Iterator, Optional, Union

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


def _inside(path: str, folder: str) -> bool:
    """Whether the real path of ``path`` is ``folder`` or lies below it."""
    path, folder = os.path.realpath(path), os.path.realpath(folder)
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)  # follows symlinks; hard links share the inode
    except OSError:
        return False


def check_output_path(
    path: PathLike,
    *,
    inputs: Iterable[Optional[PathLike]] = (),
    kind: str = "file",
    flag: str = "--out",
) -> str:
    """Check, before any long work, that ``path`` can be written and destroys no input.

    Refused with an :class:`~rmpe.errors.RMPEError` naming ``flag``:

    * an output that is one of ``inputs`` (the same path, a symlink to it or a hard link of
      it), or, for a folder output, that is an input folder or lies inside one;
    * for ``kind="file"``: an existing folder or a name ending in a separator, an existing
      path that is not a regular file (``/dev/null``: a rename would replace the device);
    * for ``kind="folder"``: an existing path that is not a folder;
    * a place that cannot be written: the parent folders cannot be created, or a probe file
      cannot be made there.

    Nothing is created: missing folders are made when the output is written, so a run refused
    later (a bad config, say) leaves no trace.

    Args:
        path: the output file or folder.
        inputs: the input files and folders of the run (None entries are ignored).
        kind: ``"file"`` or ``"folder"``.
        flag: the command-line flag named in the messages, e.g. ``--json``.

    Returns:
        ``path`` as a string.
    """
    from .errors import RMPEError

    if kind not in ("file", "folder"):
        raise ValueError(f"kind must be 'file' or 'folder', got {kind!r}")
    path = os.fspath(path)
    if not path:
        raise RMPEError(f"{flag}: empty path")
    for inp in inputs:
        if inp is None or isinstance(inp, int):
            continue
        inp = os.fspath(inp)
        if not os.path.exists(inp):
            continue
        if kind == "folder" and os.path.isdir(inp) and _inside(path, inp):
            where = "the input folder" if _same_file(path, inp) else "inside the input folder"
            raise RMPEError(f"{flag} {path} is {where} {inp}: the outputs would overwrite or mix with "
                            "the inputs; choose a folder outside it")
        if os.path.lexists(path) and _same_file(path, inp):
            raise RMPEError(f"{flag} {path} is the input {inp}: writing it would destroy the input; "
                            "choose another output name")
    if kind == "file":
        if path.endswith(("/", os.sep)) or os.path.isdir(path):
            raise RMPEError(f"{flag} {path} is a folder; give a file name")
        if os.path.exists(path) and not os.path.isfile(path):
            raise RMPEError(f"{flag} {path} exists and is not a regular file; give a file name")
        folder = os.path.dirname(os.path.abspath(path))
    else:
        if os.path.exists(path) and not os.path.isdir(path):
            raise RMPEError(f"{flag} {path} is a file; give a folder")
        folder = os.path.abspath(path)
    ancestor = folder  # nothing is created here: the nearest existing folder must take new files
    while not os.path.exists(ancestor) and os.path.dirname(ancestor) != ancestor:
        ancestor = os.path.dirname(ancestor)
    if not os.path.isdir(ancestor):
        raise RMPEError(f"{flag} {path}: {ancestor} is a file, not a folder")
    try:
        fd, probe = tempfile.mkstemp(prefix=".rmpe-write-test.", dir=ancestor)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        where = "folder" if ancestor == folder else "nearest existing folder"
        raise RMPEError(f"{flag} {path}: cannot write in the {where} {ancestor} ({exc.strerror or exc})") from None
    return path


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
