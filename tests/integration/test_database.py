"""The unit of work's connections: where one-statement reads run, and how they are planned."""

from __future__ import annotations

from sqlalchemy import Engine, text

from mdm.database import UnitOfWork, create_engine


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
