"""``mdm serve --workers N`` as a user runs it: a listening socket per worker, restarts, stops.

Linux only: the listening sockets and their processes are read from /proc.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from mdm.api.server import STARTUP_FAILURE, _ReusePortWorkers

pytestmark = pytest.mark.skipif(
    not Path("/proc/net/tcp").exists(), reason="reads listening sockets from /proc"
)

T = TypeVar("T")


def _listening_pids(port: int) -> set[int]:
    """The processes holding a socket that listens on this TCP port."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not Path(table).exists():
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
                inodes.add(f"socket:[{inode}]")
    pids: set[int] = set()
    for fds in Path("/proc").glob("[0-9]*/fd"):
        try:
            if any(str(fd.readlink()) in inodes for fd in fds.iterdir()):
                pids.add(int(fds.parent.name))
        except OSError:  # a process that ended, or not ours
            continue
    return pids


def _wait_for(check: Callable[[], T | None], seconds: float = 60) -> T:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError("timed out")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _two_workers(port: int) -> set[int] | None:
    pids = _listening_pids(port)
    return pids if len(pids) == 2 else None


def _health(port: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as answer:
        return int(answer.status)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    port = _free_port()
    env = {
        **os.environ,
        "MDM_DATABASE_URL": f"sqlite:///{tmp_path / 'hub.db'}",
        "MDM_JWT_SECRET": "s" * 40,
    }
    command = [sys.executable, "-c", "from mdm.cli import main; main()"]
    process = subprocess.Popen(
        [*command, "serve", "--workers", "2", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield process, port
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_each_worker_listens_on_the_port_is_restarted_and_stops_with_the_server(
    served: tuple[subprocess.Popen[bytes], int],
) -> None:
    process, port = served
    # Two worker processes, each with a listening socket of its own (the kernel spreads
    # connections over them); the server process itself listens on none.
    workers = _wait_for(lambda: _two_workers(port))
    assert process.pid not in workers
    assert all(_health(port) == 200 for _ in range(20))
    # A worker that dies is replaced by a new one on the same port.
    gone = min(workers)
    os.kill(gone, signal.SIGKILL)
    again = _wait_for(lambda: (pids := _two_workers(port)) and gone not in pids and pids)
    assert len(again - workers) == 1
    assert workers - again == {gone}
    assert _health(port) == 200
    # SIGTERM stops the workers (each finishing its requests) and then the server.
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 0
    assert _listening_pids(port) == set()


def test_a_worker_that_cannot_start_stops_the_server_instead_of_restarting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Settings the workers cannot read: each fails before its app starts.
    monkeypatch.setenv("MDM_API_WORKERS", "many")
    port = _free_port()
    with pytest.raises(SystemExit) as stopped:
        _ReusePortWorkers("127.0.0.1", port, 2).run()
    assert stopped.value.code == STARTUP_FAILURE
    assert _listening_pids(port) == set()
