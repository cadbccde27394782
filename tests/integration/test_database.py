"""The unit of work's connections (where one-statement reads run, and how they are planned) and
statements built once."""

from __future__ import annotations

from sqlalchemy import Engine, or_, select, text
from sqlalchemy.orm import Session

from mdm.api.app import api_unit_of_work
from mdm.database import Prebuilt, UnitOfWork, create_engine, run, run_scalars
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
