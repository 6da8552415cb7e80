"""Stop requests by signal: Ctrl-C (SIGINT) and SIGTERM ask the trainer to stop cleanly.

While a :class:`StopSignals` block is active, SIGINT and SIGTERM no longer end the process
(nor raise ``KeyboardInterrupt``); they only record the request. The trainer reads
:attr:`StopSignals.received` after every optimiser step and then stops the way the
``train.max_minutes`` budget stops it: the current step finishes, ``last.pth`` is saved
mid-epoch and ``--resume`` continues bit-exactly. ``rmpe-train`` then exits with the
shell's status for that signal, ``128 + signal number`` (130 for SIGINT, 143 for SIGTERM).

Repeated signals are ignored: under ``torchrun`` a Ctrl-C reaches every worker twice (from
the terminal and again from the agent), and the first request already stops the run. Use
SIGKILL to end a run at once (the checkpoint of the last finished epoch or stop remains).

DataLoader workers started with the ``fork`` method (Linux's default) inherit the handlers,
so a Ctrl-C sent to the whole process group does not end them under the running step.
"""
from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Callable, Dict, Optional, Union

#: The signals that request a stop.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)

_Handler = Union[Callable[[int, Optional[FrameType]], object], int, None]


class StopSignals:
    """Context manager that turns SIGINT and SIGTERM into a stop request.

    Handlers can only be installed from the main thread; elsewhere the block changes
    nothing and :attr:`received` stays None. The previous handlers are restored on exit.

    Attributes:
        received: the first stop signal received inside the block (``signal.SIGINT`` or
            ``signal.SIGTERM``), None when none came.
    """

    def __init__(self) -> None:
        self.received: Optional[int] = None
        self._previous: Dict[int, _Handler] = {}

    def __enter__(self) -> "StopSignals":
        self.received = None
        if threading.current_thread() is threading.main_thread():
            for signum in STOP_SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc_info: object) -> None:
        for signum, handler in self._previous.items():
            # None: the previous handler was not installed from Python; the default is closest
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
        self._previous = {}

    def _handle(self, signum: int, frame: Optional[FrameType]) -> None:
        if self.received is None:
            self.received = signum

    @property
    def name(self) -> Optional[str]:
        """``"SIGINT"`` or ``"SIGTERM"`` (None when no signal came)."""
        return None if self.received is None else signal.Signals(self.received).name

    @property
    def exit_status(self) -> Optional[int]:
        """The shell's exit status for the received signal, ``128 + number`` (None without one)."""
        return None if self.received is None else 128 + int(self.received)
