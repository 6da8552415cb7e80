"""A large alternate signal stack, so that a signal cannot kill a process that has run OpenVINO.

OpenVINO's CPU plugin installs a small alternate signal stack (20144 bytes here) on the threads
that load or run it, and leaves it there. Python installs its signal handlers with
``SA_ONSTACK``, so every handled signal then runs on that stack. After a test had run an
OpenVINO model, the test run died at the next handled signal: SIGCHLD, with a handler since a
PyTorch DataLoader had started workers, arriving when a child process exited. ``strace``
showed this sequence:

1. ``arch_prctl(ARCH_REQ_XCOMP_PERM, XTILE_DATA)``: oneDNN switches AMX on for bf16;
2. ``sigaltstack(ss_size=20144)`` from ``libopenvino_intel_cpu_plugin.so``;
3. SIGCHLD;
4. SIGSEGV with ``si_code=SI_KERNEL``.

``SI_KERNEL`` means the kernel could not place the handler's frame on the alternate stack.
Either the frame, which grows with the AVX-512 and AMX register state, did not fit, or the
plugin's stack memory was no longer valid. The exact condition was not pinned down: a short
script with the same steps did not fail. Replacing the stack with one of rmpe's own memory
stopped the failures. The same thing could end a user's ``rmpe-demo --backend openvino`` at
Ctrl-C (SIGINT under :class:`rmpe.train.interrupt.StopSignals`) instead of stopping cleanly.

:func:`ensure_signal_stack` gives the calling thread a 256 KB alternate stack of rmpe's own
memory when it has a smaller one. The pipeline calls it after every detector call and every
OpenVINO call, on the thread that made the call; the test suite calls it around every test.
"""
from __future__ import annotations

import ctypes
import sys
import threading
from typing import Dict

#: The size installed when a thread's alternate signal stack is smaller: ample for the AVX-512
#: and AMX register state (about 11 KB) plus Python's handler.
SIGNAL_STACK_BYTES = 256 * 1024

_SS_DISABLE = 2


class _StackT(ctypes.Structure):
    _fields_ = [("ss_sp", ctypes.c_void_p), ("ss_flags", ctypes.c_int), ("ss_size", ctypes.c_size_t)]


_buffers: Dict[int, ctypes.Array] = {}  # thread id -> the stack memory (kept alive while installed)
_lock = threading.Lock()
_libc = None


def _sigaltstack():
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
        _libc.sigaltstack.argtypes = [ctypes.POINTER(_StackT), ctypes.POINTER(_StackT)]
        _libc.sigaltstack.restype = ctypes.c_int
    return _libc.sigaltstack


def current_signal_stack() -> int:
    """Size in bytes of the calling thread's alternate signal stack (0 when it has none)."""
    if not sys.platform.startswith("linux"):
        return 0
    old = _StackT()
    if _sigaltstack()(None, ctypes.byref(old)) != 0:
        return 0
    return 0 if old.ss_flags & _SS_DISABLE else int(old.ss_size)


def ensure_signal_stack(minimum: int = SIGNAL_STACK_BYTES) -> bool:
    """Give the calling thread an alternate signal stack of ``minimum`` bytes if it has a smaller one.

    A thread without an alternate stack is left alone (its handlers run on its own stack, which
    is large). Linux only; elsewhere nothing is done.

    Returns:
        True when a stack was installed.
    """
    size = current_signal_stack()
    if size == 0 or size >= minimum:
        return False
    with _lock:
        buffer = ctypes.create_string_buffer(int(minimum))
        new = _StackT(ctypes.cast(buffer, ctypes.c_void_p), 0, int(minimum))
        if _sigaltstack()(ctypes.byref(new), None) != 0:
            return False
        _buffers[threading.get_ident()] = buffer  # the old buffer of this thread, if any, is no longer in use
    return True
