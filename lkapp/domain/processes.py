"""Is the process that runs a job still there?

A job records its runner: host name, pid and the process's start time (on Linux the clock
ticks after boot, field 22 of ``/proc/<pid>/stat``; None elsewhere). The start time tells the
original process from a later one that got the same pid.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Runner:
    """A process on a host: its host name, pid and start time (None: not known)."""

    host: str
    pid: int
    started: int | None = None


def runner_alive(recorded: Runner, here: str, look: Callable[[int], Runner | None]) -> bool | None:
    """True while ``recorded`` runs, False once it is known to be gone, None: cannot tell.

    ``here`` is this host's name and ``look(pid)`` what this host sees of ``pid``: the live
    process (its ``started`` None when it cannot be read), or None when there is none. Only
    the recorded host sees the process; a runner without a start time could be anyone who
    got its pid since.
    """
    if recorded.host != here or recorded.started is None:
        return None
    seen = look(recorded.pid)
    if seen is None:
        return False
    if seen.started is None:
        return None
    return seen.started == recorded.started
