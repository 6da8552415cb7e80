"""The error type for problems a user can cause, and the CLI wrapper that reports them.

Every component package has its own user-error class (they may not import ``rmpe``);
:data:`USER_ERRORS` collects them so the command-line tools turn any of them into one
line on stderr and exit status 2.
"""
from __future__ import annotations

import functools
import sys
from typing import Callable


class RMPEError(Exception):
    """A problem caused by the user's input: a missing file, a bad config, corrupt data."""


def _component_errors() -> tuple:
    # A component can only have raised its error if its module is loaded, so look in
    # sys.modules instead of importing (which would pull in torch for a one-line exit).
    errors = [RMPEError]
    for module, name in (
        ("sppe.errors", "SPPEError"),
        ("detectors.errors", "DetectorError"),
        ("pose_nms.errors", "PoseNMSError"),
        ("pgpg.errors", "PGPGError"),
    ):
        cls = getattr(sys.modules.get(module), name, None)
        if cls is not None:
            errors.append(cls)
    return tuple(errors)


def user_errors() -> tuple:
    """All exception classes that mean 'the user gave bad input'."""
    return _component_errors()


def cli_main(func: Callable[..., int | None]) -> Callable[..., int]:
    """Decorate a CLI ``main``: user errors become ``rmpe-xxx: error: ...`` and exit status 2.

    An ``OSError`` that reaches the CLI (a file that cannot be written: full disk, a
    permission or a path the start-up checks could not foresee) is reported the same way,
    as one line naming the file, instead of a traceback.
    """

    @functools.wraps(func)
    def wrapper(*args, **kwargs) -> int:
        module = func.__module__
        if module == "__main__":  # python -m rmpe.cli.demo
            spec = func.__globals__.get("__spec__")
            module = spec.name if spec is not None else "cli"
        prog = "rmpe-" + module.rsplit(".", 1)[-1].replace("_", "-")
        try:
            code = func(*args, **kwargs)
        except user_errors() as exc:  # noqa: PERF203
            message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            print(f"{prog}: error: {message}", file=sys.stderr)
            return 2
        except OSError as exc:  # a file the user named cannot be read or written (full disk, permissions...)
            where = f": {exc.filename}" if getattr(exc, "filename", None) else ""
            print(f"{prog}: error: {exc.strerror or type(exc).__name__}{where}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print(f"{prog}: interrupted", file=sys.stderr)
            return 130
        return int(code or 0)

    return wrapper
