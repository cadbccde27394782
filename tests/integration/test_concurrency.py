"""Two stewards acting on the same golden record at once: one wins, the other gets a conflict.

These tests commit for real (the point is two transactions), so they use a database of their
own on each backend rather than the rolled-back test transaction.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine, make_url

from matching import MatchModel
from mdm import migrate
from mdm.audit.models import AuditEntry
from mdm.database import UnitOfWork, create_engine
from mdm.devtools import drop_database, recreate_database
from mdm.errors import ConflictError
from mdm.golden.models import GoldenOverride, GoldenRecord
from mdm.ingest.service import Candidate, ingest_batch
from mdm.linkage.models import MatchModelRecord
from mdm.linkage.service import match_pending, save_model
from mdm.mapping.models import SourceInfo, SourceKind
from mdm.outbox.service import ChangeContext
from mdm.sources.service import get_source_system, sync_source_systems
from mdm.stewardship.service import override


@pytest.fixture(params=["sqlite", "postgresql"])
def own_engine(
    request: pytest.FixtureRequest, tmp_path: Path, postgres_url: str
) -> Iterator[Engine]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'conc.db'}"
    else:
        url = (
            make_url(postgres_url)
            .set(database=f"{make_url(postgres_url).database}_concurrency")
            .render_as_string(hide_password=False)
        )
        recreate_database(url)
    migrate.upgrade(url)
    engine = create_engine(url)
    yield engine
    engine.dispose()
    if request.param == "postgresql":
        drop_database(url)


def test_two_stewards_one_wins_the_other_gets_a_conflict(own_engine: Engine) -> None:
    uow = UnitOfWork(own_engine)
    with uow.begin() as s:
        sync_source_systems(s, [SourceInfo(code="erp", name="ERP", kind=SourceKind.ERP)])
        erp = get_source_system(s, "erp")
        ingest_batch(
            s,
            erp,
            "customer",
            [Candidate("1", {"source_id": "1", "legal_name": "Acme"}, None)],
            origin="t",
            actor="t",
        )
        match_pending(s, "customer", ChangeContext())
    with uow.begin() as s:
        golden = s.scalars(select(GoldenRecord)).one()
        gid, version = golden.id, golden.version

    first_has_claimed = threading.Event()
    outcome: dict[str, str] = {}

    def steward(name: str, value: str, hold: bool) -> None:
        try:
            with uow.begin() as s:
                override(s, gid, "legal_name", value, version, ChangeContext(actor=name))
                if hold:
                    first_has_claimed.set()
                    time.sleep(0.5)  # the other steward acts while this one is still open
            outcome[name] = "ok"
        except ConflictError:
            outcome[name] = "conflict"
        finally:
            first_has_claimed.set()

    alice = threading.Thread(target=steward, args=("alice", "Acme A", True))
    alice.start()
    first_has_claimed.wait(10)
    bob = threading.Thread(target=steward, args=("bob", "Acme B", False))
    bob.start()
    alice.join(30)
    bob.join(30)

    assert outcome == {"alice": "ok", "bob": "conflict"}
    with uow.begin() as s:
        golden = s.get_one(GoldenRecord, gid)
        assert golden.attributes["legal_name"] == "Acme A"
        assert golden.version == version + 1
        assert s.scalars(select(GoldenOverride.actor)).all() == ["alice"]
        # Nothing of bob's change was written, not even half of it.
        assert (
            s.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.actor == "bob"))
            == 0
        )


def test_two_requests_saving_the_first_model_leave_one_active(
    own_engine: Engine, customer_model: MatchModel
) -> None:
    # Two upserts that each found no model yet train one and save it: the second to save must
    # see the first's, so versions 1 and 2, and only the newest active.
    uow = UnitOfWork(own_engine)
    first_has_saved = threading.Event()
    versions: dict[str, int] = {}
    failed: list[BaseException] = []

    def second() -> None:
        first_has_saved.wait(5)
        try:
            with uow.begin() as s:
                versions["second"] = save_model(s, "customer", customer_model, 10)
        except BaseException as exc:
            failed.append(exc)

    thread = threading.Thread(target=second)
    thread.start()
    with uow.begin() as s:
        versions["first"] = save_model(s, "customer", customer_model, 10)
        first_has_saved.set()
        time.sleep(0.5)  # the second saves while the first is still open
    thread.join(30)
    assert not failed
    with uow.begin() as s:
        rows = s.execute(select(MatchModelRecord.version, MatchModelRecord.active)).all()
    assert sorted(versions.values()) == [1, 2]
    assert sorted(tuple(r) for r in rows) == [(1, False), (2, True)]
