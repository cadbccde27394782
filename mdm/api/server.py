"""Running the API under uvicorn: `serve(settings)` (what ``mdm serve`` calls)."""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import secrets
import shutil
import socket
import sys
import tempfile
from typing import TYPE_CHECKING, Any

from mdm.api.metrics import MULTIPROCESS_ENV
from mdm.settings import Settings

if TYPE_CHECKING:
    from litestar import Litestar

logger = logging.getLogger(__name__)

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
    """Run the worker processes on one shared socket, with Nagle's algorithm off.

    uvicorn binds the socket its workers share without ``TCP_NODELAY`` (uvicorn issue
    #3149): each keep-alive response's body then waits for the client's delayed ACK, about
    40 ms. Accepted connections inherit the option from the listening socket on Linux.
    """
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    config = uvicorn.Config(
        "mdm.api.server:app_from_environment",
        factory=True,
        workers=workers,
        **_uvicorn_options(settings),
    )
    sock = config.bind_socket()
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C stops the server, as uvicorn.run
        Multiprocess(config, sockets=[sock]).run()


def app_from_environment() -> object:
    """The app built from ``MDM_*`` environment variables (uvicorn's factory for workers)."""
    from mdm.api.app import create_app

    return _served(create_app(Settings()))
