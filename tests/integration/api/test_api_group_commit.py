"""Records sent one at a time at the same moment, stored in one transaction (`put_records`).

Each request gets the answer it would have had alone, and the audit entries and events of
the shared transaction carry the trace ID and the client of the request behind each change.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from api_support import ACME_CRM, ACME_ERP, GLOBEX
from litestar import Litestar
from sqlalchemy import func, select

from mdm.api.metrics import ApiMetrics
from mdm.api.v1.schemas import RecordRead
from mdm.api.v1.service import RecordPut, check_put, put_records
from mdm.audit.models import AuditEntry
from mdm.canonical.models import EntityType
from mdm.database import UnitOfWork
from mdm.errors import NotFoundError
from mdm.outbox.models import OutboxEvent
from mdm.outbox.service import ChangeContext
from mdm.sources.models import SourceRecord

# The fixture "make_app" (source systems and a customer model in the test's transaction).
pytest_plugins = ["api_fixtures"]

CUSTOMER = EntityType.CUSTOMER


def _put(uow: UnitOfWork, who: str, source: str, source_id: str, body: dict[str, Any]) -> RecordPut:
    ctx = ChangeContext(actor=f"client-{who}", cause="api PUT", correlation_id=f"trace-{who}")
    return check_put(uow, ctx, source, CUSTOMER, source_id, body)


def _answers(uow: UnitOfWork, puts: list[RecordPut]) -> list[RecordRead]:
    answers = put_records(uow, CUSTOMER, puts, metrics=ApiMetrics(uow))
    assert all(isinstance(a, RecordRead) for a in answers), answers
    return answers  # type: ignore[return-value]


def test_records_sent_together_match_together_and_each_change_names_its_request(
    make_app: Callable[..., Litestar], uow: UnitOfWork
) -> None:
    make_app()
    erp, crm, globex = _answers(
        uow,
        [
            _put(uow, "a", "erp", "100", ACME_ERP),
            _put(uow, "b", "crm", "0015A", ACME_CRM),
            _put(uow, "c", "erp", "200", GLOBEX),
        ],
    )
    assert [r.status for r in (erp, crm, globex)] == ["new", "new", "new"]
    # Matched among each other, as if sent one after the other.
    assert erp.golden_id == crm.golden_id != globex.golden_id
    with uow.session() as session:
        events = session.scalars(select(OutboxEvent).order_by(OutboxEvent.seq)).all()
        linked = {
            e.payload["source_id"]: e.correlation_id
            for e in events
            if e.event_type == "xref.linked"
        }
        assert linked == {"100": "trace-a", "0015A": "trace-b", "200": "trace-c"}
        created = {
            e.golden_id: e.correlation_id for e in events if e.event_type == "golden.created"
        }
        # The shared golden record's change is the first request's.
        assert created == {erp.golden_id: "trace-a", globex.golden_id: "trace-c"}
        audits = session.scalars(select(AuditEntry).where(AuditEntry.action == "create")).all()
        assert {a.golden_id: (a.actor, a.correlation_id) for a in audits} == {
            erp.golden_id: ("client-a", "trace-a"),
            globex.golden_id: ("client-c", "trace-c"),
        }


def test_a_record_that_fails_fails_alone(
    make_app: Callable[..., Litestar], uow: UnitOfWork
) -> None:
    make_app()
    good = _put(uow, "a", "erp", "100", ACME_ERP)
    # Valid, but from a source the hub does not know: found out in the shared transaction.
    unknown = RecordPut(good.ctx, "nowhere", "7", good.canonical, {**good.raw, "source_id": "7"})
    later = _put(uow, "c", "erp", "200", GLOBEX)
    answers = put_records(uow, CUSTOMER, [good, unknown, later], metrics=ApiMetrics(uow))
    assert isinstance(answers[1], NotFoundError)
    assert isinstance(answers[0], RecordRead)
    assert isinstance(answers[2], RecordRead)
    assert (answers[0].status, answers[2].status) == ("new", "new")
    with uow.session() as session:
        assert session.scalar(select(func.count()).select_from(SourceRecord)) == 2
        # Sent again alone, each in its own transaction: its trace is its own.
        traces = set(session.scalars(select(OutboxEvent.correlation_id)))
        assert traces == {"trace-a", "trace-c"}


def test_a_change_and_a_new_record_together_answer_as_alone(
    make_app: Callable[..., Litestar], uow: UnitOfWork
) -> None:
    make_app()
    (first,) = _answers(uow, [_put(uow, "a", "erp", "100", ACME_ERP)])
    changed, unchanged_other, new = _answers(
        uow,
        [
            _put(uow, "b", "erp", "100", {**ACME_ERP, "emails": ["info@acme.example"]}),
            _put(uow, "c", "erp", "100-copy", ACME_ERP),
            _put(uow, "d", "crm", "0015A", ACME_CRM),
        ],
    )
    assert (changed.status, changed.version, changed.golden_id) == ("changed", 2, first.golden_id)
    assert unchanged_other.golden_id == new.golden_id == first.golden_id
    with uow.session() as session:
        updated = session.scalars(
            select(OutboxEvent.correlation_id).where(OutboxEvent.event_type == "golden.updated")
        ).all()
        # One golden record changed by three requests: one event, the first request's.
        assert updated == ["trace-b"]
