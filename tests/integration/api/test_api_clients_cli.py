"""``mdm clients …`` end to end: create (the secret printed once), list, revoke, and the
printed credentials trading for a token over HTTP. The CLI commits for real, so each backend
gets a fresh database of its own."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from api_support import JWT_SECRET
from litestar.testing import TestClient
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from mdm.api.app import create_app
from mdm.cli import app as cli
from mdm.devtools import drop_database, recreate_database
from mdm.settings import Settings

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, postgres_url: str
) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'clients.db'}"
    else:
        url = (
            make_url(postgres_url)
            .set(database=f"{make_url(postgres_url).database}_clients")
            .render_as_string(hide_password=False)
        )
        recreate_database(url)
        yield url
        drop_database(url)


def mdm(url: str, *args: str, code: int = 0) -> str:
    result = CliRunner().invoke(cli, ["--database-url", url, *args], catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result.output


def test_clients_are_created_listed_and_revoked(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    mdm(database_url, "db", "upgrade")
    mdm(database_url, "sources", "sync")

    created = mdm(
        database_url,
        "clients", "create", "acme-dist",
        "--scope", "source:dist_north:write golden:read",
        "--source", "dist_north",
    )  # fmt: skip
    client_id = re.search(r"client_id:\s+(\S+)", created)
    secret = re.search(r"client_secret:\s+(\S+)", created)
    assert client_id
    assert secret
    assert client_id.group(1).startswith("acme-dist-")
    assert "scopes:        source:dist_north:write golden:read" in created
    assert "Store the secret now" in created

    listed = mdm(database_url, "clients", "list")
    assert client_id.group(1) in listed
    assert secret.group(1) not in listed
    assert "dist_north" in listed

    refused = mdm(
        database_url,
        "clients",
        "create",
        "greedy",
        "-s",
        "steward",
        "--source",
        "dist_north",
        code=1,
    )
    assert "may hold only golden:read and source:dist_north:write, not steward" in refused
    unknown = mdm(database_url, "clients", "create", "x", "-s", "source:nope:write", code=1)
    assert "unknown source system 'nope'" in unknown

    settings = Settings(database_url=database_url, jwt_secret=JWT_SECRET)
    form = {
        "grant_type": "client_credentials",
        "client_id": client_id.group(1),
        "client_secret": secret.group(1),
    }
    with TestClient(create_app(settings)) as http:
        token = http.post("/v1/oauth/token", data=form)
        assert token.status_code == 200, token.text
        assert token.json()["scope"] == "source:dist_north:write golden:read"

        assert mdm(database_url, "clients", "revoke", client_id.group(1)).startswith("revoked")
        assert http.post("/v1/oauth/token", data=form).status_code == 401

    assert client_id.group(1) not in mdm(database_url, "clients", "list")
    assert "revoked" in mdm(database_url, "clients", "list", "--all")
    again = mdm(database_url, "clients", "revoke", client_id.group(1), code=1)
    assert "was revoked at" in again
