"""``mdm serve --workers N`` as a user runs it: connections spread evenly, restarts, stops.

Linux only: the sockets and their processes are read from /proc.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from http.client import HTTPConnection
from pathlib import Path
from typing import TypeVar

import pytest

from mdm.api.server import STARTUP_FAILURE, _BalancedWorkers

pytestmark = pytest.mark.skipif(
    not Path("/proc/net/tcp").exists(), reason="reads listening sockets from /proc"
)

T = TypeVar("T")


def _sockets(port: int, state: str) -> set[str]:
    """The inodes of the TCP sockets on this local port in this state (0A listen, 01 open)."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not Path(table).exists():
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, found, inode = fields[1], fields[3], fields[9]
            if found == state and int(local.rsplit(":", 1)[1], 16) == port:
                inodes.add(f"socket:[{inode}]")
    return inodes


def _holding(inodes: set[str], pid: int) -> int:
    """How many of these sockets the process holds."""
    try:
        links = {str(fd.readlink()) for fd in Path(f"/proc/{pid}/fd").iterdir()}
    except OSError:  # a process that ended, or not ours
        return 0
    return len(links & inodes)


def _listening_pids(port: int) -> set[int]:
    """The processes holding a socket that listens on this TCP port."""
    inodes = _sockets(port, "0A")
    return {int(p.name) for p in Path("/proc").glob("[0-9]*") if _holding(inodes, int(p.name))}


def _workers(server: int) -> set[int]:
    """The server's worker processes: its children started by multiprocessing's spawn."""
    pids: set[int] = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            command = (stat.parent / "cmdline").read_bytes()
        except (OSError, ValueError, IndexError):
            continue
        if parent == server and b"spawn_main" in command:
            pids.add(int(stat.parent.name))
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


def _two_ready_workers(server: int, port: int) -> set[int] | None:
    """The two workers, once both answer (eight requests at once reach both)."""
    pids = _workers(server)
    if len(pids) != 2:
        return None
    try:
        with _connections(port, 8):
            opened = _sockets(port, "01")
            held = [_holding(opened, pid) for pid in pids]
    except ConnectionError:  # handed to a worker as it died: ask again
        return None
    return pids if all(held) else None


@contextlib.contextmanager
def _connections(port: int, n: int) -> Iterator[list[HTTPConnection]]:
    """``n`` keep-alive connections, each sent a health request and answered 200, kept open.

    Answered, each has been handed to a worker.
    """
    connections = [HTTPConnection("127.0.0.1", port, timeout=10) for _ in range(n)]
    try:
        for connection in connections:
            connection.request("GET", "/health")
        statuses = []
        for connection in connections:
            answer = connection.getresponse()
            answer.read()
            statuses.append(answer.status)
        assert statuses == [200] * n
        yield connections
    finally:
        for connection in connections:
            connection.close()
        _wait_until_closed(port)


def _wait_until_closed(port: int) -> None:
    """Until the workers have closed their ends of the connections the clients closed.

    A closed connection counts as closed (and frees its worker's place) then.
    """
    _wait_for(lambda: not _sockets(port, "08"), seconds=10)  # 08: CLOSE_WAIT


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


def test_connections_spread_evenly_workers_are_restarted_and_stop_with_the_server(
    served: tuple[subprocess.Popen[bytes], int],
) -> None:
    process, port = served
    # The server process alone listens; it hands each connection to a worker.
    workers = _wait_for(lambda: _two_ready_workers(process.pid, port))
    assert _listening_pids(port) == {process.pid}
    # Eight keep-alive connections opened together: four on each worker, none kept by the
    # server process (a hash of their addresses split them 5/3, 6/2 or 7/1 more often).
    with _connections(port, 8) as connections:
        opened = _sockets(port, "01")
        assert sorted(_holding(opened, pid) for pid in workers) == [4, 4]
        assert _holding(opened, process.pid) == 0
        # Closed connections free their places: whichever two close (4/2 or 3/3 left), the
        # next two opened fill the workers up to 4/4 again.
        for connection in connections[:2]:
            connection.close()
        _wait_until_closed(port)
        with _connections(port, 2):
            opened = _sockets(port, "01")
            assert sorted(_holding(opened, pid) for pid in workers) == [4, 4]
    # A worker that dies is replaced by a new one, which takes connections again.
    gone = min(workers)
    os.kill(gone, signal.SIGKILL)
    _wait_for(lambda: gone not in _workers(process.pid))
    again = _wait_for(
        lambda: (pids := _two_ready_workers(process.pid, port)) and gone not in pids and pids
    )
    assert len(again - workers) == 1
    assert workers - again == {gone}
    assert all(_health(port) == 200 for _ in range(20))
    # SIGTERM stops the workers (each finishing its requests) and then the server.
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 0
    assert _listening_pids(port) == set()
    assert _workers(process.pid) == set()


def test_a_worker_that_cannot_start_stops_the_server_instead_of_restarting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Settings the workers cannot read: each fails before its app starts.
    monkeypatch.setenv("MDM_API_WORKERS", "many")
    port = _free_port()
    with pytest.raises(SystemExit) as stopped:
        _BalancedWorkers("127.0.0.1", port, 2).run()
    assert stopped.value.code == STARTUP_FAILURE
    assert _listening_pids(port) == set()
