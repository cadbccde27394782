"""The command line, end to end on both databases: samples load, ingest summaries, rejects,
look-ups, steward commands and the feed. These commit for real, so each backend gets a fresh
database of its own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from mdm.cli import app
from mdm.devtools import drop_database, recreate_database

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, postgres_url: str
) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'cli.db'}"
    else:
        url = (
            make_url(postgres_url)
            .set(database=f"{make_url(postgres_url).database}_cli")
            .render_as_string(hide_password=False)
        )
        recreate_database(url)
        yield url
        drop_database(url)


def mdm(url: str, *args: str) -> str:
    result = CliRunner().invoke(app, ["--database-url", url, *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_samples_load_match_and_answer_look_ups(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    mdm(database_url, "db", "upgrade")
    out = mdm(database_url, "load-samples")
    # Four deliberately bad rows across the sample files, each named with its reason.
    assert "4 rejected rows" in out
    assert "a customer needs a name" in out
    assert "'EU' is not an ISO-3166 country code" in out
    assert "malformed JSON" in out
    assert "golden customer records:" in out

    again = mdm(database_url, "load-samples")
    assert " new       0" in again  # re-running the same input changes nothing

    xref = mdm(database_url, "xref", "erp", "0000100001")
    assert "erp" in xref
    golden_id = int(xref.split()[2])
    shown = orjson.loads(mdm(database_url, "golden", "show", str(golden_id)))
    assert shown["golden_id"] == golden_id
    assert shown["attributes"]["legal_name"]
    assert {"source": "erp", "source_id": "0000100001"}.items() <= next(
        x for x in shown["xref"] if x["source"] == "erp"
    ).items()

    feed = [orjson.loads(line) for line in mdm(database_url, "feed", "--limit", "5").splitlines()]
    assert [e["seq"] for e in feed] == [1, 2, 3, 4, 5]
    later = mdm(database_url, "feed", "--after", "5", "--limit", "1")
    assert orjson.loads(later)["seq"] == 6


def test_ingest_reports_unknown_source_and_missing_file(
    database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(ROOT)
    mdm(database_url, "db", "upgrade")
    runner = CliRunner()
    unknown = runner.invoke(
        app, ["--database-url", database_url, "ingest", "--source", "nope", str(tmp_path / "x")]
    )
    assert unknown.exit_code == 1
    assert "unknown source system 'nope'" in unknown.output
    missing = runner.invoke(
        app,
        ["--database-url", database_url, "ingest", "--source", "crm", str(tmp_path / "x.jsonl")],
    )
    assert missing.exit_code == 1
    assert "no such file" in missing.output
