"""The process running an import, as recorded on its job (see ``domain.processes``)."""

from __future__ import annotations

import os
import socket
from functools import cache
from pathlib import Path

from ...domain.processes import Runner, runner_alive


@cache
def this_host() -> str:
    """Where a pid names one process: the host's name and, on Linux, its boot and its pid
    namespace. Two containers (or machines) may share a name; a pid from one of them must not
    be looked up in the other, where it is another process or none."""
    name = socket.gethostname()
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        namespace = os.readlink("/proc/self/ns/pid")  # "pid:[4026531836]"
    except OSError:
        return name
    return f"{name} {boot} {namespace}"


def process_here(pid: int) -> Runner | None:
    """The live process ``pid`` on this host, or None when there is none.

    Its start time comes from ``/proc/<pid>/stat`` (Linux); it is None where that cannot be
    read: no /proc, or a process /proc hides (``hidepid``, systemd's ``ProtectProc``), which
    ``kill(pid, 0)`` still finds. A zombie (dead, not yet reaped) is no process.
    """
    host = this_host()
    try:
        with open(f"/proc/{pid}/stat", "rb") as file:
            stat = file.read()
    except OSError:
        stat = None
    if stat is not None:
        # "pid (name) state ppid ...": the name may hold spaces and parentheses.
        fields = stat.rpartition(b")")[2].split()
        if fields[0] in (b"Z", b"X"):
            return None
        return Runner(host, pid, int(fields[19]))
    if os.name != "posix":  # elsewhere kill() is no probe
        return Runner(host, pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    return Runner(host, pid)


def this_process() -> Runner:
    """The runner to record on a job this process starts."""
    return process_here(os.getpid()) or Runner(this_host(), os.getpid())


def recorded_runner_alive(host: str | None, pid: int | None, started: int | None) -> bool | None:
    """Whether the recorded runner of a job still runs (``runner_alive``); None: unknown."""
    if host is None or pid is None:
        return None
    return runner_alive(Runner(host, pid, started), this_host(), process_here)
