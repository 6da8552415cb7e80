"""The user-error type of the ``detectors`` package."""
from __future__ import annotations


class DetectorError(ValueError):
    """A problem the user can fix: missing or corrupt weights, a malformed detection or
    annotation file, an image the file does not know, a bad detector setting.

    The message is one line that names the thing at fault and what to do about it;
    ``rmpe`` command-line tools print it and exit with status 2.
    """
