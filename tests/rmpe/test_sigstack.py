"""rmpe.sigstack: a thread left with a small alternate signal stack gets a large one.

The defect it guards against (a test run killed by SIGSEGV after OpenVINO ran) is described in
rmpe/sigstack.py; the whole suite, which died at its first handled SIGCHLD before, is its
end-to-end check."""
import subprocess
import sys
import textwrap
from pathlib import Path


ROOT = Path(__file__).resolve().parents[2]


def test_small_stack_is_enlarged_and_none_is_left_alone():
    script = textwrap.dedent("""
        import ctypes, threading
        from rmpe.sigstack import _StackT, _sigaltstack, current_signal_stack, ensure_signal_stack, SIGNAL_STACK_BYTES
        out = []
        def worker():
            out.append(current_signal_stack())            # a new thread has none
            out.append(ensure_signal_stack())              # and is left alone
            small = ctypes.create_string_buffer(20144)     # what OpenVINO's CPU plugin installs
            _sigaltstack()(ctypes.byref(_StackT(ctypes.cast(small, ctypes.c_void_p), 0, 20144)), None)
            out.append(current_signal_stack())
            out.append(ensure_signal_stack())
            out.append(current_signal_stack())
            out.append(ensure_signal_stack())              # already large: nothing to do
        t = threading.Thread(target=worker); t.start(); t.join()
        print(out == [0, False, 20144, True, SIGNAL_STACK_BYTES, False], out)
    """)
    res = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("True"), res.stdout
