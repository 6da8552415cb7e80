"""rmpe.train.interrupt: SIGINT/SIGTERM become a stop request inside the block, nothing outside."""
from __future__ import annotations

import os
import signal
import threading

import pytest

from rmpe.train.interrupt import StopSignals


def _send(sig: int) -> None:
    """Deliver ``sig`` to this process; Python runs the handler before the next bytecode."""
    os.kill(os.getpid(), sig)


@pytest.mark.parametrize("sig, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_is_recorded_not_fatal(sig, status):
    with StopSignals() as stop:
        assert stop.received is None and stop.exit_status is None
        _send(sig)
        assert stop.received == sig
        assert stop.name == signal.Signals(sig).name
        assert stop.exit_status == status


def test_first_signal_wins_and_handlers_are_restored():
    # a process started in the background by a shell (as CI may be) inherits SIGINT ignored:
    # give it Python's usual Ctrl-C handler for this test, and put the inherited one back after
    inherited = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
        with StopSignals() as stop:
            _send(signal.SIGTERM)
            _send(signal.SIGINT)  # a second request changes nothing
            assert stop.received == signal.SIGTERM
        assert {s: signal.getsignal(s) for s in before} == before
        with pytest.raises(KeyboardInterrupt):  # outside the block Ctrl-C interrupts again
            _send(signal.SIGINT)
    finally:
        signal.signal(signal.SIGINT, inherited)


def test_reentering_clears_the_previous_request():
    stop = StopSignals()
    with stop:
        _send(signal.SIGINT)
    with stop:
        assert stop.received is None


def test_outside_the_main_thread_nothing_is_installed():
    seen = {}

    def body():
        with StopSignals() as stop:
            seen["handler"] = signal.getsignal(signal.SIGTERM)
            seen["received"] = stop.received

    before = signal.getsignal(signal.SIGTERM)
    worker = threading.Thread(target=body)
    worker.start()
    worker.join()
    assert seen == {"handler": before, "received": None}
