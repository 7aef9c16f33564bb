"""Processes a test started in a session of their own (a server and the Ray processes it forks):
find them by session id, and kill whatever is left of one."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path


def session_processes(sid: int) -> list[int]:
    """Pids in a session (a server started in its own session; Ray's processes stay in it)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid and fields[0] != "Z":  # fields: state ppid pgrp session ...
            found.append(int(stat.parent.name))
    return found


def kill_session(sid: int) -> None:
    """SIGKILL every process still in the session."""
    for pid in session_processes(sid):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def stop_server(process: subprocess.Popen, grace: float = 60.0) -> None:
    """SIGTERM a server started in its own session, give it `grace` seconds to shut down, then kill
    whatever is left of its session (Ray's processes, a Chroma server)."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            pass
    kill_session(process.pid)
    process.wait(10)
