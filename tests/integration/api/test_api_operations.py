"""Health, readiness, the OpenAPI document and Litestar's own errors as problem details."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from api_support import JWT_SECRET, assert_problem
from litestar.testing import TestClient

from mdm.api.app import create_app
from mdm.api.metrics import MULTIPROCESS_ENV
from mdm.database import UnitOfWork, create_engine
from mdm.errors import ConfigurationError
from mdm.settings import Settings

# The fixtures "client" and "settings".
pytest_plugins = ["api_fixtures"]


def test_health_and_readiness(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok", "checks": {}}
    ready = client.get("/ready")
    assert ready.status_code == 200
    assert ready.json()["checks"]["database"] == "ok"


def test_not_ready_without_a_migrated_database(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    engine = create_engine(url)
    try:
        app = create_app(Settings(database_url=url, jwt_secret=JWT_SECRET), uow=UnitOfWork(engine))
        with TestClient(app) as client:
            problem = assert_problem(client.get("/ready"), 503, "not_ready")
            assert "mdm db upgrade" in problem["detail"]
            assert client.get("/health").status_code == 200
    finally:
        engine.dispose()


def test_the_app_refuses_a_short_or_default_token_secret() -> None:
    with pytest.raises(ConfigurationError, match="at least 32 bytes"):
        create_app(Settings(database_url="sqlite:///var/unused.db"))
    with pytest.raises(ConfigurationError, match="at least 32 bytes"):
        create_app(Settings(database_url="sqlite:///var/unused.db", jwt_secret="short-secret"))


def test_unknown_route_and_wrong_method_are_problems(client: TestClient) -> None:
    assert_problem(client.get("/v1/nothing-here"), 404, "not_found")
    assert_problem(client.patch("/v1/golden/1"), 405, "method_not_allowed")


def test_malformed_json_is_a_problem(client: TestClient) -> None:
    response = client.put(
        "/v1/sources/erp/records/customer/1",
        content=b"{not json",
        headers={"content-type": "application/json"},
    )
    assert_problem(response, 400, "bad_request")
    response = client.put("/v1/sources/erp/records/customer/1", json=["not", "an", "object"])
    problem = assert_problem(response, 422, "invalid_input")
    assert problem["errors"][0]["field"] == "body"


def test_openapi_document_describes_v1_with_examples(client: TestClient) -> None:
    schema = client.get("/schema/openapi.json").json()
    assert schema["info"]["title"] == "mdm-hub API"
    paths = schema["paths"]
    for path in (
        "/v1/sources/{source}/records/{entity}/{source_id}",
        "/v1/sources/{source}/records/{entity}",
        "/v1/golden",
        "/v1/golden/{golden_id}",
        "/v1/golden/merge",
        "/v1/xref/{source}/{entity}/{source_id}",
        "/v1/feed",
        "/v1/review/{task_id}/accept",
    ):
        assert path in paths, sorted(paths)
    components = schema["components"]["schemas"]
    assert {"GoldenRead", "GoldenPage", "BatchCreate", "RecordRead"} <= set(components)
    # Only the API: the schema's own pages (Swagger UI, …) are no operations of it.
    assert not [path for path in paths if path.startswith("/schema")]
    put = paths["/v1/sources/{source}/records/{entity}/{source_id}"]["put"]
    assert {"200", "201", "422"} <= set(put["responses"])
    assert "503" in paths["/ready"]["get"]["responses"]
    scrape = paths["/metrics"]["get"]["responses"]
    assert set(scrape) == {"200"}
    assert set(scrape["200"]["content"]) == {"text/plain", "application/openmetrics-text"}
    override = paths["/v1/golden/{golden_id}/override"]["post"]
    assert "ACME Werkzeuge GmbH & Co." in str(override["requestBody"])
    assert "412" in override["responses"]
    assert any(p["name"] == "If-Match" for p in override["parameters"])


def test_serve_runs_uvicorn_with_the_factory_for_workers(monkeypatch: Any) -> None:
    import uvicorn

    from mdm.api import server

    calls: list[tuple[Any, dict[str, Any]]] = []
    metrics_dirs: list[str | None] = []
    started: list[tuple[str, int, int]] = []

    def run(app: Any, **options: Any) -> None:
        calls.append((app, options))

    def run_workers(self: Any) -> None:
        """The supervisor of worker processes, recording instead of starting them."""
        started.append((self.host, self.port, self.workers))
        metrics_dirs.append(os.environ.get(MULTIPROCESS_ENV))

    monkeypatch.setattr(uvicorn, "run", run)
    monkeypatch.setattr(server._BalancedWorkers, "run", run_workers)
    # serve() exports the settings for its workers: keep that out of the other tests.
    monkeypatch.setattr(os, "environ", {**os.environ})
    monkeypatch.setenv("MDM_DATABASE_URL", "sqlite:///var/unused.db")
    settings = Settings(database_url="sqlite:///var/other.db", api_port=0)
    server.serve(settings, workers=3)
    assert started[-1] == ("127.0.0.1", 0, 3)
    # Each worker serves the app factory, with the settings rebuilt from the environment.
    config = server._worker_config(Settings())
    assert config.app == "mdm.api.server:app_from_environment"
    assert config.factory is True
    # No line per request unless asked for (MDM_API_ACCESS_LOG).
    assert config.access_log is False
    # Worker processes rebuild the same settings from the environment they inherit, with
    # a random token secret for the run (none was configured) and a shared metrics folder
    # that is gone once the server stops.
    assert Settings().database_url == "sqlite:///var/other.db"
    assert len(Settings().jwt_secret) >= 32
    assert metrics_dirs[-1] is not None
    assert MULTIPROCESS_ENV not in os.environ
    assert not Path(metrics_dirs[-1]).exists()
    assert server.app_from_environment().openapi_config is not None
    server.serve(settings.model_copy(update={"api_access_log": True}))
    assert not isinstance(calls[-1][0], str)
    assert calls[-1][1]["access_log"] is True


def test_the_servers_socket_has_nagle_off_for_every_connection_it_accepts() -> None:
    import socket

    from mdm.api.server import listening_socket

    listener = listening_socket("127.0.0.1", 0)
    port = listener.getsockname()[1]
    try:
        # A 40 ms stall per keep-alive response otherwise (uvicorn issue #3149).
        assert listener.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            accepted, _ = listener.accept()
            with accepted:
                assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    finally:
        listener.close()


def test_a_new_connection_goes_to_the_ready_worker_holding_fewest() -> None:
    from mdm.api.server import least_loaded

    # Open connections: 3 - 1 = 2 on the first, 1 on the second, 4 on the third.
    assert least_loaded([3, 1, 4], [1, 0, 0], [True, True, True]) == 1
    # A worker that is not ready (starting, or just restarted) takes none.
    assert least_loaded([3, 1, 4], [1, 0, 0], [True, False, True]) == 0
    # Equal open counts: the one sent fewest in all, then the first.
    assert least_loaded([5, 2], [3, 0], [True, True]) == 1
    assert least_loaded([2, 2], [0, 0], [True, True]) == 0
    assert least_loaded([1, 1], [0, 0], [False, False]) is None
    # Eight connections opened together spread 4/4, as a hash does not.
    sent, closed = [0, 0], [0, 0]
    for _ in range(8):
        chosen = least_loaded(sent, closed, [True, True])
        assert chosen is not None
        sent[chosen] += 1
    assert sent == [4, 4]


def test_the_app_parses_the_match_models_at_start_up(
    make_app: Any, uow: UnitOfWork, monkeypatch: pytest.MonkeyPatch
) -> None:
    from matching import MatchModel
    from mdm.linkage import service as linkage

    monkeypatch.setattr(linkage, "_MODELS", linkage._ModelCache())
    with TestClient(make_app()):
        # Parsing now would fail: the first match request finds the model parsed.
        def no_parsing(*args: Any, **kwargs: Any) -> None:
            raise AssertionError("the model was parsed by a request")

        monkeypatch.setattr(MatchModel, "model_validate", no_parsing)
        with uow.session() as session:
            assert linkage.active_model(session, "customer") is not None


def test_the_app_builds_the_standardisers_tables_at_start_up(make_app: Any) -> None:
    from matching import standardisation

    # The public-suffix trie for websites: no request waits 0.1-0.2 s for it.
    standardisation._tld_extractor.cache_clear()
    with TestClient(make_app()):
        assert standardisation._tld_extractor.cache_info().currsize == 1


def test_a_served_app_freezes_its_start_up_heap(make_app: Any) -> None:
    import gc

    from mdm.api import server

    assert gc.get_freeze_count() == 0
    try:
        with TestClient(server._served(make_app())):
            assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


def test_connections_are_handed_to_workers_evenly_and_never_to_one_whose_channel_failed() -> None:
    import socket
    import threading
    from types import SimpleNamespace

    from mdm.api import server

    balanced = server._BalancedWorkers("127.0.0.1", 0, 2)
    theirs = []
    for _ in range(2):
        ours, other = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        ours.settimeout(1.0)
        ready = threading.Event()
        ready.set()
        process = SimpleNamespace(exitcode=None, pid=0)
        balanced._slots.append(server._Worker(process, ours, ready))  # type: ignore[arg-type]
        theirs.append(other)
    balanced._closed = [0, 0]
    listener = server.listening_socket("127.0.0.1", 0)
    port = listener.getsockname()[1]

    def hand_one() -> None:
        with socket.create_connection(("127.0.0.1", port)):
            accepted, _ = listener.accept()
            with accepted:
                balanced._hand(accepted)

    def received(channel: socket.socket) -> int:
        channel.settimeout(0.0)
        count = 0
        while True:
            try:
                _, fds, _, _ = socket.recv_fds(channel, 1, 1)
            except BlockingIOError:
                return count
            for fd in fds:
                socket.socket(fileno=fd).close()
            count += 1

    try:
        for _ in range(4):
            hand_one()
        assert [received(c) for c in theirs] == [2, 2]
        # The first worker's end goes away (it died): the hand-over goes to the other and
        # marks it, without taking its start-up event (a worker that had started is
        # restarted, not taken for one that could not start).
        theirs[0].close()
        for _ in range(3):
            hand_one()
        assert received(theirs[1]) == 3
        assert balanced._slots[0].broken
        assert balanced._slots[0].ready.is_set()
    finally:
        listener.close()
        for worker in balanced._slots:
            worker.channel.close()
        theirs[1].close()
