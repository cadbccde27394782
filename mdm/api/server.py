"""Running the API under uvicorn: `serve(settings)` (what ``mdm serve`` calls)."""

from __future__ import annotations

import contextlib
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
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from typing import TYPE_CHECKING, Any

from mdm.api.metrics import MULTIPROCESS_ENV
from mdm.settings import Settings

if TYPE_CHECKING:
    from litestar import Litestar

logger = logging.getLogger(__name__)

# The supervisor of worker processes (`_ReusePortWorkers`): each worker's listen backlog
# (uvicorn's default), what a worker exits with when its app cannot start (uvicorn's code for
# the same), and how long a stopping worker may take to finish its requests.
_BACKLOG = 2048
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
    """Run the worker processes, each on a listening socket of its own where the OS allows.

    With one socket shared by every worker, whichever worker wakes first accepts every
    connection waiting: clients that open their keep-alive connections together (a pool, a
    load balancer) all land on one process while the others idle. Measured with 8 clients
    on 2 workers: 8/0 in two runs of three, and half the throughput. With ``SO_REUSEPORT``
    (`_ReusePortWorkers`) the kernel spreads connections over the workers' sockets by a hash
    of their addresses: evenly for many connections, for 8 mostly 3/5 or 4/4 and now and
    then 1/7 (a hash is not a count). Elsewhere, uvicorn's supervisor on one shared socket.
    """
    if hasattr(socket, "SO_REUSEPORT"):
        _ReusePortWorkers(settings.api_host, settings.api_port, workers).run()
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


def listening_socket(host: str, port: int, *, listen: bool = True) -> socket.socket:
    """A TCP socket bound with ``SO_REUSEPORT`` (one per worker) and Nagle's algorithm off.

    uvicorn binds without ``TCP_NODELAY`` (uvicorn issue #3149): each keep-alive response's
    body then waits for the client's delayed ACK, about 40 ms. Accepted connections inherit
    the option from the listening socket on Linux. Bound but not listening, the socket only
    holds the port (and resolves port 0): the kernel hands connections to listening ones.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((host, port))
        if listen:
            sock.listen(_BACKLOG)
    except OSError:
        sock.close()
        raise
    return sock


def _serve_worker(port: int, ready: Any) -> None:
    """A worker process: its own socket on the shared port, the app from ``MDM_*``.

    ``ready`` (an event) is set once the app has started.
    """
    import uvicorn

    settings = Settings()
    server = uvicorn.Server(_worker_config(settings))

    def tell_when_started() -> None:
        while not server.started and not server.should_exit:
            time.sleep(0.05)
        if server.started:
            ready.set()

    threading.Thread(target=tell_when_started, daemon=True).start()
    server.run(sockets=[listening_socket(settings.api_host, port)])
    if not server.started:
        sys.exit(STARTUP_FAILURE)


@dataclass(slots=True)
class _Worker:
    """A worker process and the event it sets once its app has started."""

    process: BaseProcess
    ready: Any  # a multiprocessing Event


class _ReusePortWorkers:
    """Starts ``workers`` processes on one port, restarts any that dies, stops them together.

    SIGINT or SIGTERM stops the server: each worker gets SIGTERM and finishes the requests
    in hand (uvicorn's graceful shutdown). A worker that ends by itself before its app has
    started (bad settings, a broken installation) is not started again, which would only
    repeat the failure: the server stops and exits with `STARTUP_FAILURE`. One killed by a
    signal is started again, whenever that happened.
    """

    def __init__(self, host: str, port: int, workers: int) -> None:
        self.host, self.port, self.workers = host, port, workers
        self._stop = threading.Event()

    def run(self) -> None:
        import multiprocessing

        context = multiprocessing.get_context("spawn")
        # Holds the port for the run (and names it when port 0 asked for any free one).
        held = listening_socket(self.host, self.port, listen=False)
        port = int(held.getsockname()[1])
        previous = {
            signum: signal.signal(signum, lambda *_: self._stop.set())
            for signum in (signal.SIGINT, signal.SIGTERM)
        }
        workers: list[_Worker] = []
        failed = False
        try:
            workers = [self._start(context, port) for _ in range(self.workers)]
            while not failed and not self._stop.wait(0.2):
                for i, worker in enumerate(workers):
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
                    workers[i] = self._start(context, port)
        finally:
            for worker in workers:
                if worker.process.exitcode is None:
                    worker.process.terminate()
            for worker in workers:
                worker.process.join(_SHUTDOWN_SECONDS)
                if worker.process.exitcode is None:
                    worker.process.kill()
                    worker.process.join()
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            held.close()
        if failed:
            raise SystemExit(STARTUP_FAILURE)

    @staticmethod
    def _start(context: Any, port: int) -> _Worker:
        ready = context.Event()
        process: BaseProcess = context.Process(
            target=_serve_worker, args=(port, ready), name="mdm-api-worker"
        )
        process.start()
        return _Worker(process, ready)


def app_from_environment() -> object:
    """The app built from ``MDM_*`` environment variables (uvicorn's factory for workers)."""
    from mdm.api.app import create_app

    return _served(create_app(Settings()))
