"""The user-error type of the :mod:`sppe` package."""
from __future__ import annotations


class SPPEError(ValueError):
    """A problem the user can cause: an unknown model name, a bad option, a bad checkpoint.

    The message is one line that names the thing at fault and what to do about it;
    ``rmpe``'s command-line tools print it and exit with status 2.
    """
