"""Running the API under uvicorn: `serve(settings)` (what ``mdm serve`` calls)."""

from __future__ import annotations

from mdm.settings import Settings


def serve(settings: Settings, *, workers: int = 1, reload: bool = False) -> None:
    """Serve the API on ``settings.api_host:api_port`` with ``workers`` processes.

    With more than one worker each process builds its own app (and engine) through the
    factory, which is how uvicorn forks; the processes share nothing but the database.
    """
    import uvicorn

    if workers > 1 or reload:
        # Worker processes import the app themselves: hand them the factory and the settings
        # through the environment they inherit.
        import os

        for name, value in settings.model_dump(mode="json").items():
            os.environ[f"MDM_{name.upper()}"] = str(value)
        uvicorn.run(
            "mdm.api.server:app_from_environment",
            factory=True,
            host=settings.api_host,
            port=settings.api_port,
            workers=workers,
            reload=reload,
            proxy_headers=True,
        )
        return
    from mdm.api.app import create_app

    uvicorn.run(
        create_app(settings), host=settings.api_host, port=settings.api_port, proxy_headers=True
    )


def app_from_environment() -> object:
    """The app built from ``MDM_*`` environment variables (uvicorn's factory for workers)."""
    from mdm.api.app import create_app

    return create_app(Settings())
