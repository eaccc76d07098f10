"""Is the process that runs an import still there? The rule, and what /proc says."""

from __future__ import annotations

import os
import socket
import subprocess
from datetime import timedelta
from pathlib import Path

from lkapp.domain.processes import Runner, runner_alive
from lkapp.models import ImportJob, utcnow
from lkapp.services.billing.runner import process_here, this_host, this_process
from lkapp.staff.imports import STALE_AFTER, job_state
from tests.conftest import wait_for

RECORDED = Runner("app1", 4242, 1_000)


def look_at(*processes: Runner):
    """What a host sees: these processes, none other."""
    return {process.pid: process for process in processes}.get


def test_the_runner_is_alive_while_its_pid_has_its_start_time():
    assert runner_alive(RECORDED, "app1", look_at(RECORDED)) is True


def test_the_runner_is_gone_when_its_pid_is_free_or_taken_by_a_later_process():
    assert runner_alive(RECORDED, "app1", look_at()) is False
    assert runner_alive(RECORDED, "app1", look_at(Runner("app1", 4242, 9_999))) is False


def test_nothing_is_known_of_a_runner_on_another_host_or_hidden_or_without_start_time():
    def never(pid):
        raise AssertionError("another host's pid looked up here")

    assert runner_alive(RECORDED, "app2", never) is None
    hidden = Runner("app1", 4242, None)  # /proc hides it; kill(pid, 0) finds it
    assert runner_alive(RECORDED, "app1", look_at(hidden)) is None
    assert runner_alive(Runner("app1", 4242, None), "app1", look_at()) is None


def test_this_process_is_alive():
    here = this_process()
    assert (here.host, here.pid) == (this_host(), os.getpid())
    assert here.host.startswith(socket.gethostname() + " ")  # Linux: boot and pid namespace
    assert here.started is not None  # Linux: read from /proc
    assert runner_alive(here, this_host(), process_here) is True


def test_a_killed_process_is_gone_even_before_it_is_reaped():
    child = subprocess.Popen(["sleep", "60"])
    try:
        seen = process_here(child.pid)
        assert seen is not None and seen.started is not None
        assert runner_alive(seen, this_host(), process_here) is True
        child.kill()
        stat = Path(f"/proc/{child.pid}/stat")
        assert wait_for(lambda: stat.read_bytes().rpartition(b")")[2].split()[0] == b"Z", 10)
        assert runner_alive(seen, this_host(), process_here) is False  # a zombie
    finally:
        child.kill()
        child.wait()
    assert runner_alive(seen, this_host(), process_here) is False  # reaped


def test_a_job_run_on_another_host_is_interrupted_only_after_the_stale_time():
    def job(started_ago: timedelta) -> ImportJob:
        return ImportJob(
            id=1,
            status="running",
            rows_total=10,
            rows_done=3,
            created_at=utcnow() - started_ago,
            started_at=utcnow() - started_ago,
            runner_host=socket.gethostname() + ".elsewhere",
            runner_pid=os.getpid() + 1,
            runner_started=1,
        )

    assert job_state(job(timedelta(minutes=1))) == "checking"
    assert job_state(job(STALE_AFTER + timedelta(minutes=1))) == "interrupted"


def test_a_runner_in_another_container_of_the_same_name_is_not_judged_from_here():
    """Its pid means another process here (or none): the job is not interrupted for that."""
    name, boot, _namespace = this_host().split(" ")
    job = ImportJob(
        id=1,
        status="running",
        rows_total=10,
        rows_done=3,
        created_at=utcnow(),
        started_at=utcnow(),
        runner_host=f"{name} {boot} pid:[1]",
        runner_pid=os.getpid(),  # alive here, but another process than the runner
        runner_started=1,
    )
    assert job_state(job) == "checking"
