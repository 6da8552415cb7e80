"""The user-error type of the ``pgpg`` package."""
from __future__ import annotations


class PGPGError(ValueError):
    """Bad input to PGPG: a malformed model file, unusable data, an impossible setting.

    Messages are one line naming the thing at fault and what to do about it; the
    ``rmpe-pgpg`` command prints the line and exits with status 2.
    """
