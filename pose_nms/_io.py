"""Atomic file writing for ``pose_nms``: its own copy, because the component packages never import ``rmpe``."""
from __future__ import annotations

import contextlib
import os
import uuid
from typing import BinaryIO, Iterator, Union

PathLike = Union[str, "os.PathLike[str]"]


@contextlib.contextmanager
def atomic_write(path: PathLike) -> Iterator[BinaryIO]:
    """Write a file all at once: a temporary file in the same folder, renamed into place.

    Yields a binary file object. When the ``with`` block ends normally the data is flushed to
    disk and the file replaces ``path`` (``os.replace``); when it raises, the temporary file
    is removed and ``path`` is left as it was. Missing parent folders are created.

    Raises:
        OSError: the folder or the file cannot be written.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = os.path.join(folder, f".{os.path.basename(path)}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
