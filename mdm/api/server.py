"""Running the API under uvicorn: `serve(settings)` (what ``mdm serve`` calls)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
import os
import secrets
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from typing import TYPE_CHECKING, Any

from mdm.api.metrics import MULTIPROCESS_ENV
from mdm.settings import Settings

if TYPE_CHECKING:
    from litestar import Litestar

logger = logging.getLogger(__name__)

# The supervisor of worker processes (`_BalancedWorkers`): its listen backlog (uvicorn's
# default), how often its accepting thread looks whether to stop, how long handing a
# connection to a worker may wait, how many connections a worker takes from its channel at
# once, what a worker exits with when its app cannot start (uvicorn's code for the same), and
# how long a stopping worker may take to finish its requests.
_BACKLOG = 2048
_ACCEPT_POLL_SECONDS = 0.2
_HAND_OVER_SECONDS = 5.0
_FDS_AT_ONCE = 1
STARTUP_FAILURE = 3
_SHUTDOWN_SECONDS = 30

_HOW_TO_CALL = (
    "API calls need a bearer token. Create a client once with\n"
    "  mdm clients create demo --scope admin\n"
    "then trade its ID and secret for a token:\n"
    "  curl -d grant_type=client_credentials -d client_id=ID -d client_secret=SECRET "
    "http://{host}:{port}/v1/oauth/token\n"
    "and send it as 'Authorization: Bearer TOKEN' (docs/api.md, Authentication)."
)


def with_signing_secret(settings: Settings) -> Settings:
    """The settings with a token secret: the configured one, or a random one for this run.

    The default secret is public (it is in the code), so tokens signed with it could be
    forged by anyone; without ``MDM_JWT_SECRET`` each run gets its own, and its tokens end
    with it.
    """
    if settings.jwt_secret != Settings.model_fields["jwt_secret"].default:
        return settings
    logger.warning(
        "MDM_JWT_SECRET is not set: tokens are signed with a random secret that lives as long "
        "as this server; set it (32+ bytes, the same on every API host) in production"
    )
    return settings.model_copy(update={"jwt_secret": secrets.token_urlsafe(32)})


def serve(settings: Settings, *, workers: int = 1, reload: bool = False) -> None:
    """Serve the API on ``settings.api_host:api_port`` with ``workers`` processes.

    With more than one worker each process builds its own app (and engine) through the
    factory, which is how uvicorn forks; the processes share nothing but the database and,
    for metrics, a directory where prometheus_client sums their counters.
    """
    import uvicorn

    settings = with_signing_secret(settings)
    print(_HOW_TO_CALL.format(host=settings.api_host, port=settings.api_port), file=sys.stderr)
    if workers > 1 or reload:
        # Worker processes import the app themselves: hand them the factory and the settings
        # through the environment they inherit.
        for name, value in settings.model_dump(mode="json").items():
            os.environ[f"MDM_{name.upper()}"] = str(value)
        metrics_dir = None
        if workers > 1 and MULTIPROCESS_ENV not in os.environ:
            # Set before the workers import prometheus_client, which reads it at import.
            metrics_dir = tempfile.mkdtemp(prefix="mdm-metrics-")
            os.environ[MULTIPROCESS_ENV] = metrics_dir
        try:
            if reload:
                uvicorn.run(
                    "mdm.api.server:app_from_environment",
                    factory=True,
                    reload=True,
                    **_uvicorn_options(settings),
                )
            else:
                _run_workers(settings, workers)
        finally:
            if metrics_dir is not None:
                del os.environ[MULTIPROCESS_ENV]
                shutil.rmtree(metrics_dir, ignore_errors=True)
        return
    from mdm.api.app import create_app

    uvicorn.run(_served(create_app(settings)), **_uvicorn_options(settings))


def _served(app: Litestar) -> Litestar:
    """The app as a server process runs it: its start-up heap frozen once it has started."""
    app.on_startup.append(_freeze_heap)
    return app


def _freeze_heap() -> None:
    """Move what start-up built (modules, models, mappers) out of the garbage collector's reach.

    A full collection walks every tracked object, and a server process holds a few hundred
    thousand that live as long as it does; walking them paused one request in a few hundred
    by about 100 ms. Frozen, they are never walked again; what requests allocate is collected
    as before.
    """
    gc.collect()
    gc.freeze()


def _uvicorn_options(settings: Settings) -> dict[str, Any]:
    """What every way of serving shares: where, behind a proxy, and whether to log each request."""
    return {
        "host": settings.api_host,
        "port": settings.api_port,
        "proxy_headers": True,
        "access_log": settings.api_access_log,
    }


def _run_workers(settings: Settings, workers: int) -> None:
    """Run the worker processes behind one listening socket that the supervisor accepts on.

    Clients keep their connections open (a pool, a load balancer), so where a connection
    lands decides which process answers all its requests. Letting the workers share the
    socket, whichever woke first accepted every connection waiting: 8 keep-alive clients
    landed 8/0 on two workers in two benchmark runs of three, at half the throughput. Giving
    each worker a socket of its own with ``SO_REUSEPORT``, the kernel spread them by a hash
    of their addresses: 5/3, 6/2 and 7/1 more often than 4/4, and the worker with more
    connections answered each later. So the supervisor accepts and hands each connection to
    the worker holding the fewest (`_BalancedWorkers`). Where the OS cannot pass sockets
    between processes, uvicorn's supervisor on one shared socket.
    """
    if hasattr(socket, "send_fds") and hasattr(socket, "AF_UNIX"):
        _BalancedWorkers(settings.api_host, settings.api_port, workers).run()
        return
    from uvicorn.supervisors import Multiprocess

    config = _worker_config(settings, workers)
    sock = config.bind_socket()
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C stops the server, as uvicorn.run
        Multiprocess(config, sockets=[sock]).run()


def _worker_config(settings: Settings, workers: int = 1) -> Any:
    """The configuration of a worker process for uvicorn: the app factory, from ``MDM_*``."""
    import uvicorn

    return uvicorn.Config(
        "mdm.api.server:app_from_environment",
        factory=True,
        workers=workers,
        **_uvicorn_options(settings),
    )


def listening_socket(host: str, port: int) -> socket.socket:
    """The server's TCP socket, with Nagle's algorithm off for every connection it accepts.

    uvicorn binds without ``TCP_NODELAY`` (uvicorn issue #3149): each keep-alive response's
    body then waits for the client's delayed ACK, about 40 ms. Accepted connections inherit
    the option from the listening socket on Linux.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((host, port))
        sock.listen(_BACKLOG)
    except OSError:
        sock.close()
        raise
    return sock


def least_loaded(sent: Sequence[int], closed: Sequence[int], ready: Sequence[bool]) -> int | None:
    """The worker to hand a new connection to: the fewest open (sent less closed) of the ready.

    Ties go to the one that was sent fewest in all, so that short connections spread too.
    None when no worker is ready.
    """
    candidates = [i for i, is_ready in enumerate(ready) if is_ready]
    if not candidates:
        return None
    return min(candidates, key=lambda i: (sent[i] - closed[i], sent[i], i))


def _serve_worker(channel: socket.socket, closed: Any, slot: int, ready: Any) -> None:
    """A worker process: serves the connections the supervisor hands it over ``channel``.

    It counts the connections it has closed in ``closed[slot]`` (shared memory the
    supervisor reads) and sets ``ready`` (an event) once its app has started.
    """
    settings = Settings()
    server = _handed_server_class()(_worker_config(settings), channel, closed, slot)

    def tell_when_started() -> None:
        while not server.started and not server.should_exit:
            time.sleep(0.05)
        if server.started:
            ready.set()

    threading.Thread(target=tell_when_started, daemon=True).start()
    server.run(sockets=[])  # no socket of its own: connections come over the channel
    if not server.started:
        sys.exit(STARTUP_FAILURE)


@functools.cache
def _handed_server_class() -> type[Any]:
    """The server class for a worker: uvicorn's, built on first use (uvicorn is imported lazily)."""
    import uvicorn

    class HandedConnectionsServer(uvicorn.Server):
        """uvicorn's server, taking accepted connections from the supervisor's channel."""

        def __init__(self, config: Any, channel: socket.socket, closed: Any, slot: int) -> None:
            super().__init__(config)
            self.channel, self.closed, self.slot = channel, closed, slot

        async def startup(self, sockets: list[socket.socket] | None = None) -> None:  # noqa: ARG002
            await super().startup(sockets=[])
            if not self.started:
                return
            loop = asyncio.get_running_loop()
            config, state, counter = self.config, self.server_state, self

            class Counted(config.http_protocol_class):  # type: ignore[name-defined,misc]
                def connection_lost(self, exc: Exception | None) -> None:
                    counter.closed[counter.slot] += 1
                    super().connection_lost(exc)

            def protocol() -> asyncio.Protocol:
                return Counted(
                    config=config, server_state=state, app_state=self.lifespan.state, _loop=loop
                )

            self.channel.settimeout(0.0)  # non-blocking
            loop.add_reader(self.channel.fileno(), self._take, loop, protocol)

        def _take(self, loop: asyncio.AbstractEventLoop, protocol: Any) -> None:
            try:
                message, fds, _, _ = socket.recv_fds(self.channel, 1, _FDS_AT_ONCE)
            except BlockingIOError:
                return
            if not message:  # the supervisor is gone
                loop.remove_reader(self.channel.fileno())
                self.should_exit = True
            for fd in fds:
                connection = socket.socket(fileno=fd)
                connection.settimeout(0.0)
                loop.create_task(self._attach(loop, protocol, connection))

        async def _attach(
            self, loop: asyncio.AbstractEventLoop, protocol: Any, connection: socket.socket
        ) -> None:
            try:
                await loop.connect_accepted_socket(protocol, connection)
            except OSError:  # the client left during the hand-over: count it as closed
                connection.close()
                self.closed[self.slot] += 1

        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            with contextlib.suppress(ValueError, OSError):  # closed already
                asyncio.get_running_loop().remove_reader(self.channel.fileno())
            await super().shutdown(sockets=sockets)

    return HandedConnectionsServer


@dataclass(slots=True)
class _Worker:
    """A worker process, the channel its connections go over, and its start-up event."""

    process: BaseProcess
    channel: socket.socket  # the supervisor's end
    ready: Any  # a multiprocessing Event
    sent: int = 0
    # Its channel failed (it died, or stopped taking connections): hand it none until the
    # monitor has started another in its place.
    broken: bool = False


class _BalancedWorkers:
    """Accepts connections and hands each to the worker with the fewest open, over a socket.

    The supervisor listens on the port; the workers listen on nothing. Each accepted
    connection's socket is passed (``SCM_RIGHTS``) to the ready worker holding the fewest
    open connections: the supervisor counts what it sent to each, the worker counts what it
    closed in shared memory. A request never passes through the supervisor, only the
    connection's hand-over.

    It starts ``workers`` processes, restarts any that dies, stops them together. SIGINT or
    SIGTERM stops the server: each worker gets SIGTERM and finishes the requests in hand
    (uvicorn's graceful shutdown). A worker that ends by itself before its app has started
    (bad settings, a broken installation) is not started again, which would only repeat the
    failure: the server stops and exits with `STARTUP_FAILURE`. One killed by a signal is
    started again, whenever that happened.
    """

    def __init__(self, host: str, port: int, workers: int) -> None:
        self.host, self.port, self.workers = host, port, workers
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._slots: list[_Worker] = []
        self._closed: Any = None

    def run(self) -> None:
        import multiprocessing

        context = multiprocessing.get_context("spawn")
        self._closed = context.RawArray("q", self.workers)
        listener = listening_socket(self.host, self.port)
        listener.settimeout(_ACCEPT_POLL_SECONDS)
        previous = {
            signum: signal.signal(signum, lambda *_: self._stop.set())
            for signum in (signal.SIGINT, signal.SIGTERM)
        }
        failed = False
        accepting = threading.Thread(target=self._accept, args=(listener,), daemon=True)
        try:
            self._slots = [self._start(context, i) for i in range(self.workers)]
            accepting.start()
            while not failed and not self._stop.wait(0.2):
                for i, worker in enumerate(self._slots):
                    exitcode = worker.process.exitcode
                    if exitcode is None:
                        continue
                    if exitcode >= 0 and not worker.ready.is_set():
                        # Ended by itself, not by a signal (the OOM killer, an operator).
                        logger.error("an API worker could not start (exit code %s)", exitcode)
                        failed = True
                        break
                    logger.warning(
                        "API worker %s exited with %s; starting another",
                        worker.process.pid,
                        exitcode,
                    )
                    with self._lock:
                        worker.channel.close()
                        self._slots[i] = self._start(context, i)
        finally:
            self._stop.set()
            if accepting.is_alive():
                accepting.join()
            listener.close()
            for worker in self._slots:
                if worker.process.exitcode is None:
                    worker.process.terminate()
            for worker in self._slots:
                worker.process.join(_SHUTDOWN_SECONDS)
                if worker.process.exitcode is None:
                    worker.process.kill()
                    worker.process.join()
                worker.channel.close()
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        if failed:
            raise SystemExit(STARTUP_FAILURE)

    def _start(self, context: Any, slot: int) -> _Worker:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        # A worker that stops reading its channel must not hold up the hand-over for good.
        ours.settimeout(_HAND_OVER_SECONDS)
        ready = context.Event()
        self._closed[slot] = 0
        process: BaseProcess = context.Process(
            target=_serve_worker, args=(theirs, self._closed, slot, ready), name="mdm-api-worker"
        )
        process.start()
        theirs.close()
        return _Worker(process, ours, ready)

    def _accept(self, listener: socket.socket) -> None:
        """Accept connections until stopped, handing each to a worker (in a thread)."""
        while not self._stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:  # out of file descriptors, say: wait, the backlog holds them
                logger.exception("could not accept a connection")
                self._stop.wait(_ACCEPT_POLL_SECONDS)
                continue
            with connection:
                self._hand(connection)

    def _hand(self, connection: socket.socket) -> None:
        """Pass the connection to the least loaded ready worker; wait while none is ready."""
        while not self._stop.is_set():
            with self._lock:
                slots = list(self._slots)
                chosen = least_loaded(
                    [w.sent for w in slots],
                    [self._closed[i] for i in range(len(slots))],
                    [
                        w.ready.is_set() and not w.broken and w.process.exitcode is None
                        for w in slots
                    ],
                )
                if chosen is not None:
                    worker = slots[chosen]
                    try:
                        socket.send_fds(worker.channel, [b"c"], [connection.fileno()])
                    except OSError:  # it died, or its channel stayed full for a while
                        logger.warning("API worker %s takes no connections", worker.process.pid)
                        worker.broken = True
                        continue
                    worker.sent += 1
                    return
            self._stop.wait(0.05)


def app_from_environment() -> object:
    """The app built from ``MDM_*`` environment variables (uvicorn's factory for workers)."""
    from mdm.api.app import create_app

    return _served(create_app(Settings()))
