"""The unit of work's connections (where one-statement reads run, and how they are planned) and
statements built once."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, bindparam, insert, or_, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mdm.api.app import api_unit_of_work
from mdm.database import (
    Prebuilt,
    Rows,
    UnitOfWork,
    create_engine,
    plan_bulk_statements,
    run,
    run_scalars,
)
from mdm.golden.models import GoldenRecord
from mdm.golden.service import create_goldens
from mdm.settings import Settings


def test_reads_run_on_the_reader_whose_connections_plan_each_statement_once(
    engine: Engine,
) -> None:
    postgres = engine.dialect.name == "postgresql"
    reader = create_engine(engine.url.render_as_string(hide_password=False), generic_plans=True)
    try:
        uow = UnitOfWork(engine, reader=reader)
        with uow.reading() as connection:
            assert connection.engine is reader
            if postgres:
                mode = connection.exec_driver_sql("SHOW plan_cache_mode").scalar()
                assert mode == "force_generic_plan"
        # Writes keep PostgreSQL's own choice between generic and custom plans.
        with uow.begin() as session:
            assert session.get_bind() is engine
            if postgres:
                assert session.execute(text("SHOW plan_cache_mode")).scalar() == "auto"
        # Without a reader, reads run on the unit of work's own engine.
        with UnitOfWork(engine).reading() as connection:
            assert connection.engine is engine
    finally:
        reader.dispose()


def test_bulk_planning_lasts_only_for_its_transaction(engine: Engine) -> None:
    settings = ("plan_cache_mode", "max_parallel_workers_per_gather", "jit")
    postgres = engine.dialect.name == "postgresql"
    uow = UnitOfWork(engine)
    with uow.session() as session:
        with session.begin():
            first = session.connection().connection.dbapi_connection
            plan_bulk_statements(session)
            if postgres:
                shown = [session.execute(text(f"SHOW {name}")).scalar() for name in settings]
                assert shown == ["force_custom_plan", "0", "off"]
        # The next transaction on the same connection plans as the server is configured.
        with session.begin():
            assert session.connection().connection.dbapi_connection is first
            if postgres:
                shown = [session.execute(text(f"SHOW {name}")).scalar() for name in settings]
                assert shown[0] == "auto"
                assert shown[1] != "0"


def test_the_api_plans_each_statement_once_on_postgresql(engine: Engine) -> None:
    postgres = engine.dialect.name == "postgresql"
    url = engine.url.render_as_string(hide_password=False)
    uow, engines = api_unit_of_work(Settings(database_url=url))
    try:
        with uow.begin() as session:
            if postgres:
                mode = session.execute(text("SHOW plan_cache_mode")).scalar()
                assert mode == "force_generic_plan"
        with uow.reading() as connection:
            if postgres:
                mode = connection.exec_driver_sql("SHOW plan_cache_mode").scalar()
                assert mode == "force_generic_plan"
        # Look-ups have a pool of their own on PostgreSQL; SQLite has one engine.
        assert len(engines) == (2 if postgres else 1)
        assert connection.engine is engines[-1]
        assert session.get_bind() is engines[0]
    finally:
        for each in engines:
            each.dispose()


def test_a_prebuilt_statement_binds_id_lists_by_name_and_sees_pending_changes(
    session: Session,
) -> None:
    first, second, third = create_goldens(session, "customer", 3)
    # The same list twice under one name, as the cannot-link and review look-ups bind it.
    statement = Prebuilt(
        lambda ids_in: (
            select(GoldenRecord.id, GoldenRecord.merged_into_id)
            .where(or_(ids_in(GoldenRecord.id, "ids"), ids_in(GoldenRecord.merged_into_id, "ids")))
            .order_by(GoldenRecord.id)
        )
    )
    assert run_scalars(session, statement, {"ids": [first, third]}) == [first, third]
    assert run_scalars(session, statement, {"ids": []}) == []
    connection = session.connection()
    assert statement.on(connection) is statement.on(connection)  # built once
    # A change the session still holds is flushed before the statement runs.
    session.get_one(GoldenRecord, second).merged_into_id = first
    rows = run(session, statement, {"ids": [first]}).all()
    assert [tuple(r) for r in rows] == [(first, None), (second, first)]


def test_a_prebuilt_statement_runs_alike_whether_the_driver_or_sqlalchemy_runs_it(
    session: Session,
) -> None:
    first, second = create_goldens(session, "customer", 2)
    write = Prebuilt(
        lambda _: (
            update(GoldenRecord)
            .where(GoldenRecord.id == bindparam("b_id"))
            .values(attributes=bindparam("attributes"), version=bindparam("version"))
        )
    )
    read = Prebuilt(
        lambda ids_in: (
            select(GoldenRecord.id, GoldenRecord.attributes, GoldenRecord.status)
            .where(ids_in(GoldenRecord.id, "ids"))
            .order_by(GoldenRecord.id)
        )
    )
    # One executemany; JSON goes in and comes back as it was.
    run(
        session,
        write,
        [
            {"b_id": first, "attributes": {"name": "Acme", "tags": ["a", "b"]}, "version": 2},
            # A JSON list of integers stays JSON (ID lists are what go as array text).
            {"b_id": second, "attributes": [1, 2, 3], "version": 3},
        ],
    )
    run(session, write, [])  # an executemany of nothing changes nothing, on either path
    rows = run(session, read, {"ids": [first, second]}).all()
    assert [(r.id, r.attributes, r.status) for r in rows] == [
        (first, {"name": "Acme", "tags": ["a", "b"]}, "active"),
        (second, [1, 2, 3], "active"),
    ]
    # A list of one parameter set runs once (as one execute), counting its row.
    one = run(session, write, [{"b_id": second, "attributes": {"k": None}, "version": 4}])
    assert one.rowcount == 1
    assert run(session, read, {"ids": [second]}).all()[0].attributes == {"k": None}
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        # Plain statements go to the driver; an INSERT whose columns have defaults computed
        # in Python (status, version, times) is left to SQLAlchemy, which computes them.
        assert isinstance(run(session, read, {"ids": [first]}), Rows)
    create = Prebuilt(lambda _: insert(GoldenRecord).returning(GoldenRecord.id))
    (new_id,) = run(session, create, {"entity_type": "customer"}).scalars()
    assert run(session, read, {"ids": [new_id]}).all()[0].status == "active"
    # A constraint broken through the driver is SQLAlchemy's IntegrityError, as elsewhere.
    unnamed = Prebuilt(
        lambda _: (
            update(GoldenRecord)
            .where(GoldenRecord.id == bindparam("b_id"))
            .values(entity_type=bindparam("entity_type"))
        )
    )
    with pytest.raises(IntegrityError), session.begin_nested():
        run(session, unnamed, {"b_id": first, "entity_type": None})
    assert run_scalars(session, read, {"ids": [first]}) == [first]


@pytest.mark.parametrize("count", [2, 100])
def test_rows_inserted_into_several_tables_land_as_given(session: Session, count: int) -> None:
    # A few rows go in as one JSON statement on PostgreSQL, many by COPY: the same rows.
    from datetime import UTC, datetime, timedelta

    from mdm.audit.models import AuditEntry
    from mdm.database import JsonText, insert_rows, table_of
    from mdm.outbox.models import OutboxEvent

    at = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    awkward = 'tab\there "quoted" back\\slash Ünïcødé \u2028 %(x)s :name'
    events = [
        {
            "seq": 10_000 + i,
            "event_type": "golden.updated",
            "entity_type": "customer",
            "golden_id": i if i % 2 else None,
            "golden_version": 1,
            "payload": {"i": i, "text": awkward, "list": [1, None, "x"], "f": 0.1},
            "cause": awkward[:100],
            "correlation_id": None,
            "occurred_at": at + timedelta(seconds=i),
        }
        for i in range(count)
    ]
    audits = [
        {
            "at": at,
            "actor": "a",
            "action": "update",
            "entity_type": "customer",
            "golden_id": i,
            "before": None,
            "after": JsonText('{"encoded": "once", "n": [1, 2]}'),
            "reason": awkward,
            "correlation_id": f"c{i}",
        }
        for i in range(count)
    ]
    insert_rows(session, (table_of(OutboxEvent), events), (table_of(AuditEntry), audits))

    def aware(value: datetime) -> datetime:  # SQLite keeps no time zone
        return value if value.tzinfo else value.replace(tzinfo=UTC)

    stored = session.execute(
        select(
            OutboxEvent.seq,
            OutboxEvent.golden_id,
            OutboxEvent.payload,
            OutboxEvent.cause,
            OutboxEvent.correlation_id,
            OutboxEvent.occurred_at,
        )
        .where(OutboxEvent.seq >= 10_000)
        .order_by(OutboxEvent.seq)
    ).all()
    assert [(*r[:5], aware(r[5])) for r in stored] == [
        (
            e["seq"],
            e["golden_id"],
            e["payload"],
            e["cause"],
            None,
            e["occurred_at"],
        )
        for e in events
    ]
    kept = session.execute(
        select(AuditEntry.golden_id, AuditEntry.after, AuditEntry.reason, AuditEntry.at)
        .where(AuditEntry.actor == "a")
        .order_by(AuditEntry.golden_id)
    ).all()
    assert [(*r[:3], aware(r[3])) for r in kept] == [
        (i, {"encoded": "once", "n": [1, 2]}, awkward, at) for i in range(count)
    ]
