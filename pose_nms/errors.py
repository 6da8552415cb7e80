"""The user-error type of the ``pose_nms`` package."""
from __future__ import annotations


class PoseNMSError(ValueError):
    """Bad input to pose NMS: malformed or non-finite arrays, bad parameters, an unreadable
    parameter file. The message is one line naming the thing at fault and what to do."""
