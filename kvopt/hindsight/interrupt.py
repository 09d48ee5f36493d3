"""Ctrl-C during a hindsight solve: keep what was found and say that the solve was stopped."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

from kvopt.result import SolveResult

__all__ = ["CTRL_C", "SolveInterrupted", "noting_ctrl_c"]

#: set while :func:`noting_ctrl_c` has seen Ctrl-C; the HiGHS backend's MIP run stops on it
CTRL_C = threading.Event()


class SolveInterrupted(KeyboardInterrupt):
    """Ctrl-C during :func:`kvopt.hindsight.solve.solve`; ``partial`` holds the best verified
    schedule and the best certified bound found so far (status ``feasible``, or
    ``no_solution`` before MC-SF's schedule was verified)."""

    def __init__(self, partial: SolveResult) -> None:
        super().__init__("interrupted")
        self.partial = partial


@contextlib.contextmanager
def noting_ctrl_c(interrupt: threading.Event) -> Iterator[None]:
    """Within the block, Ctrl-C sets ``interrupt`` as well as raising ``KeyboardInterrupt``.

    HiGHS calls Python back during its runs, and a ``KeyboardInterrupt`` raised in such a
    callback is lost (the run goes on to its end), so the solve's stages also look at the
    event: the certified LP stops at its next solve, the rest at the next stage, and the HiGHS
    MIP run (through :data:`CTRL_C`) at its next interrupt check. Only in the main thread, and
    only where Ctrl-C raises ``KeyboardInterrupt`` (a pool worker ignores it).
    """
    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGINT) is not signal.default_int_handler):
        yield
        return

    def noted(signum: int, frame: object) -> None:
        interrupt.set()
        CTRL_C.set()
        raise KeyboardInterrupt

    CTRL_C.clear()
    signal.signal(signal.SIGINT, noted)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        CTRL_C.clear()
