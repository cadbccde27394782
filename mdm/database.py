"""Database plumbing: metadata, engines for SQLite and PostgreSQL, the unit of work.

The metadata carries a naming convention so that migrations name constraints the same way
on both backends.

Services receive a `Session` and never commit; the unit of work commits or rolls back as a
whole, so a change, its audit entry and its outbox event land together or not at all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import lru_cache
from itertools import repeat
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar

import orjson
from sqlalchemy import (
    ARRAY,
    JSON,
    BigInteger,
    ColumnElement,
    Executable,
    Integer,
    MetaData,
    String,
    Table,
    any_,
    bindparam,
    event,
    insert,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Connection, CursorResult, Engine, make_url
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import DeclarativeBase, QueryableAttribute, Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry

from mdm.errors import ConfigurationError

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# One JSON column type for both backends: JSONB where PostgreSQL has it.
JSONType = JSON().with_variant(JSONB(), "postgresql")
# SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    """Declarative base of every ORM model; its metadata is what Alembic migrates."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSONType, list[Any]: JSONType}


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


def _sqlite_pragmas(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    # Let SQLAlchemy, not the sqlite3 module, decide where transactions begin, so that
    # savepoints and the unit of work behave as they do on PostgreSQL.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    # WAL lets readers (the API) work while a load writes; busy_timeout waits out short locks.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


# An execution option `UnitOfWork.begin` sets on SQLite: its transaction writes.
_WRITES = "mdm_writes"


def _sqlite_begin(connection: Connection) -> None:
    # A write transaction takes SQLite's write lock as it begins (waiting out another writer,
    # busy_timeout): begun deferred, it would read first and then fail to write ("database is
    # locked") wherever another writer had committed in between. Reads begin deferred.
    writes = connection.get_execution_options().get(_WRITES)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if writes else "BEGIN")


class JsonText(str):
    """A value already encoded as JSON: JSON columns store it as it is, without re-encoding.

    Bulk loads encode each record once (they hash that text) and hand it straight to the
    database.
    """

    __slots__ = ()


def _json_dumps(value: Any) -> str:
    if isinstance(value, JsonText):
        return str(value)
    return orjson.dumps(value).decode()


# orjson encodes JSON columns several times faster than the standard library.
_JSON_CODEC: dict[str, Any] = {"json_serializer": _json_dumps, "json_deserializer": orjson.loads}


def create_engine(database_url: str, *, echo: bool = False, generic_plans: bool = False) -> Engine:
    """An engine for a SQLite file or a PostgreSQL server (``postgresql+psycopg://``).

    ``generic_plans`` (PostgreSQL) makes its connections plan each prepared statement once
    (``plan_cache_mode = force_generic_plan``), for the single-statement index look-ups of
    `UnitOfWork.reading`. Left to choose, PostgreSQL kept planning match-on-query's
    five-table candidates statement afresh for every small ID array (its generic plan is costed
    for a larger one): 0.7-1.1 ms of the server's CPU a request against 0.2 ms planned once.
    """
    from sqlalchemy import create_engine as sa_create_engine

    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa_create_engine(url, echo=echo, **_JSON_CODEC)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    if url.get_backend_name() == "postgresql":
        if url.drivername == "postgresql":
            url = url.set(drivername="postgresql+psycopg")
        # No ping before each checkout: it would cost a round trip per request. A connection
        # the server dropped fails its request once (the API answers 503, send again), and
        # SQLAlchemy then replaces every pooled connection opened before the failure.
        options = {"options": "-c plan_cache_mode=force_generic_plan"} if generic_plans else {}
        return sa_create_engine(
            url, echo=echo, pool_size=10, pool_recycle=1800, connect_args=options, **_JSON_CODEC
        )
    raise ConfigurationError(
        f"unsupported database '{url.get_backend_name()}': use sqlite:/// or postgresql+psycopg://"
    )


def is_postgres(session_or_engine: Session | Engine) -> bool:
    """Whether the session or engine talks to PostgreSQL."""
    bind = session_or_engine.get_bind() if isinstance(session_or_engine, Session) else None
    engine = bind if bind is not None else session_or_engine
    return engine.dialect.name == "postgresql"  # type: ignore[union-attr]


class UnitOfWork:
    """Owns one transaction: commit on success, roll back on any error."""

    def __init__(self, bind: Engine | Connection, *, reader: Engine | None = None) -> None:
        self.bind = bind
        # SQLite: a write transaction takes the write lock as it begins (`_sqlite_begin`).
        self._writes_lock = isinstance(bind, Engine) and bind.dialect.name == "sqlite"
        # Where `reading` connects when given (an engine of its own, with generic plans).
        self.reader = reader
        # Joining an outer transaction through savepoints lets tests roll everything back.
        self._factory = sessionmaker(
            bind, expire_on_commit=False, join_transaction_mode="create_savepoint"
        )

    @contextmanager
    def begin(self) -> Iterator[Session]:
        """A session whose transaction commits when the block ends without error."""
        with self._factory() as session, session.begin():
            if self._writes_lock:
                session.connection(execution_options={_WRITES: True})
            yield session

    def session(self) -> Session:
        """A bare session, for read-only use and for callers that manage the transaction."""
        return self._factory()

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        """A connection for a read that is one statement, outside any transaction.

        One statement sees one snapshot by itself; on PostgreSQL the connection runs in
        autocommit, which saves the round trips of BEGIN and ROLLBACK. Bound to a connection
        (tests), the read runs inside that connection's transaction.
        """
        if isinstance(self.bind, Connection):
            yield self.bind
            return
        with (self.reader or self.bind).connect() as connection:
            if connection.dialect.name == "postgresql":
                connection.execution_options(isolation_level="AUTOCOMMIT")
            yield connection


def copy_escape(text: str) -> str:
    r"""Text in COPY's text format: backslash, tab, newline and carriage return escaped.

    >>> copy_escape("a\tb\\c")
    'a\\tb\\\\c'
    """
    # Checking with `in` first keeps the common case (nothing to escape) a few memchr calls.
    if "\\" in text:
        text = text.replace("\\", "\\\\")
    if "\t" in text:
        text = text.replace("\t", "\\t")
    if "\n" in text:
        text = text.replace("\n", "\\n")
    if "\r" in text:
        text = text.replace("\r", "\\r")
    return text


def copy_text(value: Any) -> str:
    r"""One value in PostgreSQL's COPY text format (NULL is ``\N``).

    >>> copy_text(None), copy_text(True), copy_text('a\tb'), copy_text({"k": "x\\y"})
    ('\\N', 't', 'a\\tb', '{"k":"x\\\\\\\\y"}')
    """
    fmt = _COPY_FORMATS.get(type(value))
    if fmt is not None:
        return fmt(value)
    if value is None:
        return "\\N"
    if isinstance(value, str):
        return copy_escape(value)
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, dict | list):
        return copy_escape(orjson.dumps(value).decode())
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    return copy_escape(str(value))


def _copy_json(value: dict[str, Any] | list[Any]) -> str:
    return copy_escape(orjson.dumps(value).decode())


# The formats of the common types, found by the exact type in one look-up: a bulk load
# formats tens of millions of values, and the chain of isinstance tests was most of the cost.
_COPY_FORMATS: dict[type, Callable[[Any], str]] = {
    str: copy_escape,
    JsonText: copy_escape,
    int: int.__repr__,
    float: float.__repr__,
    bool: lambda v: "t" if v else "f",
    type(None): lambda _: "\\N",
    dict: _copy_json,
    list: _copy_json,
    datetime: datetime.isoformat,
}


def copy_block(
    rows: Sequence[Mapping[str, Any]], columns: Sequence[str], ids: Sequence[int] = ()
) -> str:
    r"""Rows in COPY's text format, formatted column by column (``ids``, if given, first).

    A column holding one value throughout (the entity type, the batch, the time of a chunk:
    many of a bulk insert's columns) is formatted once.

    >>> copy_block([{"a": 1, "b": "x"}, {"a": 2, "b": "x"}], ["a", "b"])
    '1\tx\n2\tx\n'
    >>> copy_block([{"b": None}, {"b": "y"}], ["b"], ids=[7, 8])
    '7\t\\N\n8\ty\n'
    """
    n = len(rows)
    formatted: list[Iterable[str]] = [map(str, ids)] if ids else []
    for column in columns:
        values = [row[column] for row in rows]
        first = values[0]
        if type(first) in _CONSTANT_TYPES and values.count(first) == n:
            formatted.append(repeat(copy_text(first), n))
        else:
            formatted.append(map(copy_text, values))
    return "".join([f"{line}\n" for line in map("\t".join, zip(*formatted, strict=True))])


# Types whose equal values format alike within a column (a column holds one type; floats and
# JSON documents are left out: cheaper to format than to compare).
_CONSTANT_TYPES = frozenset({str, int, bool, datetime, type(None)})


def bulk_insert(session: Session, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert many rows fast: COPY on PostgreSQL, one executemany on SQLite; never commits.

    On PostgreSQL the rows are formatted here, in one pass, and sent as one block of COPY text:
    much cheaper than formatting row by row through the driver.
    """
    if not rows:
        return
    if not is_postgres(session):
        session.execute(insert(table), list(rows))
        return
    columns = list(rows[0].keys())
    _copy(session, table, columns, copy_block(rows, columns))


# Up to this many rows, `insert_rows` sends them as one JSON parameter of one statement.
FEW_ROWS = 64


def insert_rows(session: Session, *batches: tuple[Table, Sequence[Mapping[str, Any]]]) -> None:
    """Insert rows into one or more tables (each batch's rows with the same keys); never commits.

    On PostgreSQL a few rows (a single record's: its features and blocking keys, its golden
    membership and cross-reference) go into every table in one statement, one JSON document
    unpacked by ``json_to_recordset`` per table, instead of a COPY per table: a request pays
    per round trip. Many rows are COPied (`bulk_insert`), as they are everywhere else.
    """
    given = [(table, rows) for table, rows in batches if rows]
    if not given:
        return
    if not is_postgres(session) or sum(len(rows) for _, rows in given) > FEW_ROWS:
        for table, rows in given:
            bulk_insert(session, table, rows)
        return
    shape = tuple((table, tuple(rows[0])) for table, rows in given)
    run(session, _json_insert(shape), _json_params(given))


def _json_row(row: Mapping[str, Any]) -> dict[str, Any]:
    # Text already encoded as JSON goes in as that JSON, not as a string holding it.
    return {
        key: orjson.Fragment(str(value)) if isinstance(value, JsonText) else value
        for key, value in row.items()
    }


def insert_rows_with(
    session: Session,
    batches: Sequence[tuple[Table, Sequence[Mapping[str, Any]]]],
    *,
    ctes: tuple[str, ...],
    main: str,
    params: Mapping[str, Any],
) -> Rows | CursorResult[*tuple[Any, ...]]:
    """Insert rows (as `insert_rows`) and run ``WITH ctes main`` (PostgreSQL text SQL).

    A few rows go in the same statement as ``main`` (one round trip); else they are inserted
    first. ``params`` are ``main``'s and ``ctes``' (names other than ``rows_i``).
    """
    given = [(table, rows) for table, rows in batches if rows]
    if sum(len(rows) for _, rows in given) > FEW_ROWS:
        insert_rows(session, *given)
        given = []
    shape = tuple((table, tuple(rows[0])) for table, rows in given)
    return run(session, _json_insert(shape, ctes, main), {**params, **_json_params(given)})


def _json_params(given: Sequence[tuple[Table, Sequence[Mapping[str, Any]]]]) -> dict[str, str]:
    return {
        f"rows_{i}": orjson.dumps([_json_row(row) for row in rows]).decode()
        for i, (_, rows) in enumerate(given)
    }


@lru_cache(maxsize=64)
def _json_insert(
    shape: tuple[tuple[Table, tuple[str, ...]], ...],
    ctes: tuple[str, ...] = (),
    main: str | None = None,
) -> Prebuilt[Any]:
    """One statement inserting ``:rows_i`` (a JSON array of objects) into each table in turn.

    With ``main``, the inserts are common table expressions of it (after ``ctes``).
    """
    from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg

    dialect = PGDialect_psycopg()  # type: ignore[no-untyped-call]
    parts = []
    quote = dialect.identifier_preparer.quote
    for i, (table, columns) in enumerate(shape):
        names = ", ".join(quote(c) for c in columns)
        types = ", ".join(f"{quote(c)} {table.c[c].type.compile(dialect=dialect)}" for c in columns)
        parts.append(
            f"INSERT INTO {table.name} ({names}) SELECT {names} "
            f"FROM json_to_recordset(CAST(:rows_{i} AS json)) AS x({types})"
        )
    if main is None:
        *parts, main = parts
    named = [f"t{i} AS ({part})" for i, part in enumerate(parts)] + list(ctes)
    sql = f"WITH {', '.join(named)} {main}" if named else main
    return Prebuilt(lambda _: text(sql))


# Rows a transaction inserts when it commits (or before the session reads their table).
_DEFERRED = "mdm.deferred_rows"
# Set by `hold_deferred`: rows wait for the commit on SQLite too.
_HOLD = "mdm.hold_deferred_rows"


def defer_rows(session: Session, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert these rows with the transaction's last statement (the outbox's), on PostgreSQL.

    A request's audit entries then cost no round trip of their own; past `FEW_ROWS` queued,
    they are all inserted at once. Rows of one table must have the same keys. Until then an ORM
    query of the table writes them first, so the session sees its own rows; a savepoint rolled
    back on its own does not take them back (as events).
    """
    if not rows:
        return
    if not is_postgres(session) and not session.info.get(_HOLD):
        insert_rows(session, (table, rows))
        return
    queued = session.info.setdefault(_DEFERRED, {})
    queued.setdefault(table, []).extend(rows)
    if sum(len(each) for each in queued.values()) > FEW_ROWS:
        # A bulk run's many go now, as they come (COPY): none held until its commit.
        write_deferred(session)


def hold_deferred(session: Session) -> None:
    """Queue `defer_rows`' rows until the commit on SQLite too, for this transaction.

    The caller may then still change them (`deferred_rows`) before they are written.
    """
    session.info[_HOLD] = True


def deferred_rows(session: Session, table: Table) -> list[dict[str, Any]]:
    """The rows `defer_rows` queued for ``table`` and not written yet: the queue itself."""
    for queued, rows in session.info.get(_DEFERRED, {}).items():
        if queued.name == table.name:
            return rows  # type: ignore[no-any-return]
    return []


def has_deferred(session: Session) -> bool:
    """Whether `defer_rows` queued rows in this session."""
    return bool(session.info.get(_DEFERRED))


def take_deferred(session: Session) -> list[tuple[Table, list[dict[str, Any]]]]:
    """The rows `defer_rows` queued, no longer queued: the caller inserts them."""
    return list(session.info.pop(_DEFERRED, {}).items())


def write_deferred(session: Session) -> None:
    """Insert the rows `defer_rows` queued now."""
    insert_rows(session, *take_deferred(session))


@event.listens_for(Session, "do_orm_execute")
def _write_deferred_before_reading(state: Any) -> None:
    deferred = state.session.info.get(_DEFERRED)
    if deferred and state.is_select:
        from sqlalchemy.sql.util import find_tables

        # By name: the ORM's statements hold annotated copies of the tables.
        names = {table.name for table in deferred}
        if any(getattr(found, "name", None) in names for found in find_tables(state.statement)):
            write_deferred(state.session)


@event.listens_for(Session, "after_transaction_end")
def _drop_deferred_on_end(session: Session, transaction: Any) -> None:
    # After a commit nothing is queued; after a rollback the rows die with the change.
    if transaction.parent is None:
        session.info.pop(_DEFERRED, None)
        session.info.pop(_HOLD, None)


def _copy(session: Session, table: Table, columns: Sequence[str], text_block: str) -> None:
    import psycopg

    driver = session.connection().connection.driver_connection
    statement = f"COPY {table.name} ({', '.join(columns)}) FROM STDIN"
    try:
        with (
            driver.cursor() as cursor,  # type: ignore[union-attr]
            cursor.copy(statement) as copy,
        ):
            copy.write(text_block)
    except psycopg.IntegrityError as exc:
        # As an INSERT through SQLAlchemy reports it: callers catch one kind of error.
        raise IntegrityError(statement, None, exc) from exc


_RESERVE_IDS = text(
    "SELECT array_agg(nextval(CAST(:seq AS regclass)) ORDER BY i) FROM generate_series(1, :n) AS i"
)
# Table -> the name of the sequence of its ``id`` (the same in every database of the schema).
_SEQUENCES: dict[str, str] = {}


def insert_returning_ids(
    session: Session, table: Table, rows: Sequence[Mapping[str, Any]]
) -> list[int]:
    """Insert rows and return their new ``id`` values in the rows' order; never commits.

    On PostgreSQL the IDs are reserved from the table's sequence in one round trip and the rows
    are COPied, which is far faster than ``INSERT … RETURNING`` for large batches.
    """
    if not rows:
        return []
    if not is_postgres(session):
        result = session.execute(
            insert(table).returning(table.c.id, sort_by_parameter_order=True), list(rows)
        )
        return [int(r[0]) for r in result]
    ids = reserve_ids(session, table, len(rows))
    columns = list(rows[0].keys())
    _copy(session, table, ["id", *columns], copy_block(rows, columns, ids))
    return ids


def reserve_ids(session: Session, table: Table, n: int) -> list[int]:
    """``n`` new values of a PostgreSQL table's ``id`` sequence, in one round trip."""
    # The sequence is looked up once per table (per row, the catalogue look-up cost six times
    # the nextval itself) and the IDs come back as one array, not a row each.
    sequence = _SEQUENCES.get(table.name)
    if sequence is None:
        sequence = session.execute(
            text("SELECT pg_get_serial_sequence(:table, 'id')"), {"table": table.name}
        ).scalar_one()
        _SEQUENCES[table.name] = sequence
    reserved = session.execute(_RESERVE_IDS, {"seq": sequence, "n": n}).scalar_one()
    return [int(i) for i in reserved]


def copy_lines(session: Session, table: Table, columns: Sequence[str], lines: str) -> None:
    """COPY rows already in COPY's text format (see `copy_text`) into a PostgreSQL table.

    For a hot path that formats its rows itself, in one f-string a row: half the cost of
    `bulk_insert`'s dictionaries and column-by-column formatting.
    """
    _copy(session, table, columns, lines)


_BIGINT_ARRAY = ARRAY(BigInteger)
_TEXT_ARRAY = ARRAY(String)


def id_in(
    column: QueryableAttribute[Any] | ColumnElement[Any], ids: Sequence[int], session: Session
) -> ColumnElement[bool]:
    """``column IN ids`` that stays an index look-up for long lists on PostgreSQL.

    PostgreSQL gets one array parameter (``= ANY(:ids)``), which it plans as index probes; a
    long literal IN list can be planned as a scan comparing every row with every value.
    """
    if is_postgres(session):
        # A typed bind parameter renders as ``%(p)s::BIGINT[]``: the same SQL as a cast of a
        # literal, at half the cost to build (statements are built per request).
        return column == any_(bindparam(None, list(ids), type_=_BIGINT_ARRAY))
    return column.in_(list(ids))


IdsIn = Callable[[QueryableAttribute[Any] | ColumnElement[Any], str], ColumnElement[bool]]


def _ids_in_array(
    column: QueryableAttribute[Any] | ColumnElement[Any], name: str
) -> ColumnElement[bool]:
    return column == any_(bindparam(name, type_=_BIGINT_ARRAY))


def _ids_in_list(
    column: QueryableAttribute[Any] | ColumnElement[Any], name: str
) -> ColumnElement[bool]:
    return column.in_(bindparam(name, expanding=True))


S = TypeVar("S", bound=Executable)


class Prebuilt(Generic[S]):
    """A statement built once per kind of database, its ID lists bound by name.

    ``build`` gets the `id_in` of that database as ``ids_in(column, name)``; a call then binds
    the list under ``name``. Building a statement can cost more Python than running it (a
    three-column select with an `id_in` condition: 0.2 ms to build, 0.18 ms to run as Core),
    and a single record's upsert runs the same score of statements each time.
    """

    __slots__ = ("_build", "_built", "_direct")

    def __init__(self, build: Callable[[IdsIn], S]) -> None:
        self._build = build
        self._built: dict[str, S] = {}
        # On PostgreSQL, the statement compiled for the driver, by the names of the parameters
        # it is run with (an INSERT's columns are those given); None when SQLAlchemy runs it.
        self._direct: dict[tuple[str, ...], _Direct | None] = {}

    def on(self, connection: Connection) -> S:
        """The statement as built for the connection's database."""
        name = connection.dialect.name
        built = self._built.get(name)
        if built is None:
            built = self._build(_ids_in_array if name == "postgresql" else _ids_in_list)
            self._built[name] = built
        return built

    def direct(self, connection: Connection, keys: tuple[str, ...]) -> _Direct | None:
        """The statement compiled for the driver (for these parameters), if it can run it."""
        try:
            return self._direct[keys]
        except KeyError:
            statement = self.on(connection)
            direct = self._direct[keys] = _Direct.compile(statement, connection, keys)
            return direct


class _Direct:
    """A PostgreSQL statement compiled once, that the driver runs without SQLAlchemy.

    SQLAlchemy's execution of a compiled and cached statement still costs Python on every call
    (its cache key, the parameters' and the result's set-up), as much again as the driver's own
    work. The SQL, the defaults of the parameters and their conversions are taken from
    SQLAlchemy's compiler once; a statement whose results need converting (or whose SQL is
    finished only at execution) is left to SQLAlchemy.
    """

    __slots__ = ("defaults", "id_lists", "processors", "sql")

    def __init__(
        self,
        sql: str,
        defaults: dict[str, Any],
        processors: dict[str, Callable[[Any], Any]],
        id_lists: frozenset[str] = frozenset(),
    ) -> None:
        self.sql = sql
        self.defaults = defaults
        self.processors = processors
        # Parameters bound to arrays of integers (ID lists), sent as array text.
        self.id_lists = id_lists

    @classmethod
    def compile(
        cls, statement: Executable, connection: Connection, keys: tuple[str, ...]
    ) -> _Direct | None:
        dialect = connection.dialect
        if dialect.paramstyle != "pyformat":
            return None
        compiled: Any = statement.compile(  # type: ignore[attr-defined]
            dialect=dialect, column_keys=list(keys)
        )
        if (
            compiled.literal_execute_params
            or compiled.post_compile_params
            # Column defaults computed in Python at execution (an INSERT's counts at 0, say).
            or getattr(compiled, "insert_prefetch", None)
            or getattr(compiled, "update_prefetch", None)
        ):
            return None
        for column in compiled._result_columns:  # noqa: SLF001
            if column.type._cached_result_processor(dialect, None) is not None:  # noqa: SLF001
                return None
        # ID lists go as array text (`_id_array`): no conversion of SQLAlchemy's either.
        id_lists = {
            name
            for bind, name in compiled.bind_names.items()
            if isinstance(bind.type, ARRAY) and isinstance(bind.type.item_type, Integer)
        }
        processors = {
            name: process
            for name, process in compiled._bind_processors.items()  # noqa: SLF001
            if process is not None and name not in id_lists
        }
        required = {name for bind, name in compiled.bind_names.items() if bind.required}
        defaults = {
            name: value
            for name, value in compiled.construct_params(_check=False).items()
            if name not in required
        }
        return cls(str(compiled), defaults, processors, frozenset(id_lists))

    def bind(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """The parameters as the driver takes them: defaults filled in, values converted."""
        bound = {**self.defaults, **params}
        for name, process in self.processors.items():
            value = bound.get(name)
            if value is not None:
                bound[name] = process(value)
        for name in self.id_lists:
            value = bound.get(name)
            if type(value) is list:
                bound[name] = _id_array(value)
        return bound


def _id_array(values: list[Any]) -> Any:
    """A list of integers as PostgreSQL's array text (``{1,2,3}``), any other as it is.

    The statement casts it (``::BIGINT[]``); the driver would otherwise look at every element
    to choose an array type, which cost a look-up of a dozen IDs a third of its Python time.
    """
    if all(type(v) is int for v in values):
        return "{" + ",".join(map(str, values)) + "}"
    return values


class Rows:
    """The rows of a statement the driver ran, used as callers of `run` use a result."""

    __slots__ = ("_rows", "rowcount")

    def __init__(self, rows: list[Any], rowcount: int) -> None:
        self._rows = rows
        self.rowcount = rowcount

    def __iter__(self) -> Iterator[Any]:
        return iter(self._rows)

    def all(self) -> list[Any]:
        """Every row (named tuples)."""
        return self._rows

    def scalars(self) -> list[Any]:
        """The first column of every row."""
        return [row[0] for row in self._rows]

    def scalar_one(self) -> Any:
        """The first column of the one row there must be."""
        (row,) = self._rows
        return row[0]


def _run_direct(connection: Connection, direct: _Direct, params: Any) -> Rows:
    import psycopg
    from psycopg.pq import ExecStatus
    from psycopg.rows import namedtuple_row

    driver: Any = connection.connection.driver_connection
    try:
        with driver.cursor(row_factory=namedtuple_row) as cursor:
            if not isinstance(params, Mapping):
                if len(params) > 1:
                    cursor.executemany(direct.sql, [direct.bind(p) for p in params])
                    return Rows([], cursor.rowcount)
                # One set: an executemany would enter and leave the driver's pipeline mode.
                (params,) = params
                cursor.execute(direct.sql, direct.bind(params))
                return Rows([], cursor.rowcount)
            cursor.execute(direct.sql, direct.bind(params))
            # Whether rows came back, from the result's status: `description` would first
            # build an object for each column.
            result = cursor.pgresult
            rows = cursor.fetchall() if result and result.status == ExecStatus.TUPLES_OK else []
            return Rows(rows, cursor.rowcount)
    except psycopg.Error as exc:
        # As SQLAlchemy reports it (callers catch its IntegrityError, say), and a lost
        # connection goes back to the pool as such.
        lost = connection.dialect.is_disconnect(exc, driver, None)  # type: ignore[arg-type]
        if lost:
            connection.invalidate(exc)
        raise DBAPIError.instance(
            direct.sql, params, exc, psycopg.Error, connection_invalidated=lost
        ) from exc


def run(
    bind: Session | Connection,
    statement: Prebuilt[Any],
    params: Mapping[str, Any] | Sequence[Mapping[str, Any]],
) -> Rows | CursorResult[*tuple[Any, ...]]:
    """Run a prebuilt statement as Core (no ORM set-up), on the session's connection.

    Pending ORM changes are flushed first, as a query through the session would. A list of
    parameter sets runs it once for each (one executemany). On PostgreSQL the driver runs it
    by itself (`_Direct`), unless SQL is being echoed.
    """
    if not isinstance(params, Mapping) and not params:
        return Rows([], 0)  # an executemany of nothing
    if isinstance(bind, Session):
        bind.flush()  # returns at once when nothing is pending
    connection = core_connection(bind)
    if connection.dialect.name == "postgresql" and not connection.engine.echo:
        first = params if isinstance(params, Mapping) else params[0]
        direct = statement.direct(connection, tuple(first))
        if direct is not None:
            return _run_direct(connection, direct, params)
    return connection.execute(statement.on(connection), params)


def run_scalars(
    bind: Session | Connection, statement: Prebuilt[Any], params: Mapping[str, Any]
) -> list[Any]:
    """The first column of every row of a prebuilt statement (as `run` runs it)."""
    return list(run(bind, statement, params).scalars())


def plan_bulk_statements(session: Session) -> None:
    """Plan this transaction's statements as a bulk job's look-ups are best run, on PostgreSQL.

    - Each statement for its own values. The driver prepares a statement it has run five
      times, and PostgreSQL then plans it once for any values: a generic plan, which a bulk
      job's growing tables (statistics a chunk or more behind) make a sequential scan that
      tests every row against an ID array one element at a time — 5,000 IDs over a table of
      thousands of rows is tens of millions of comparisons, growing with the table. Planned
      for the values at hand, the same look-up probes the index, or hashes the array.
      Planning each statement costs well under a millisecond, nothing beside a bulk chunk's
      statements; requests keep their prepared plans.
    - Without parallel workers. A look-up of tens of thousands of keys (a chunk's blocking
      keys among everyone's) was planned as a parallel sequential scan: 0.64-0.75 s over 6
      million keys, against 0.29-0.37 s for the same look-up as index probes, and the scan
      grows with the table, the probes only with the keys. The bulk job keeps the cores busy
      with its own worker processes already; PostgreSQL's workers would compete with them.
    - Without JIT compilation. The look-ups are index probes whose plans cost enough to pass
      ``jit_above_cost``; compiling one took 20-60 ms, more than most of them run.
    """
    if is_postgres(session):
        # One statement; ``true``: for this transaction only, as SET LOCAL.
        session.execute(
            text(
                "SELECT set_config('plan_cache_mode', 'force_custom_plan', true),"
                " set_config('max_parallel_workers_per_gather', '0', true),"
                " set_config('jit', 'off', true)"
            )
        )


def core_connection(bind: Session | Connection) -> Connection:
    """The connection under a session (or the connection itself), for Core execution.

    A statement of plain columns run on it skips the ORM's per-statement set-up: about half
    the Python time of the same statement through `Session.execute`.
    """
    return bind.connection() if isinstance(bind, Session) else bind


def refresh_statistics(bind: Session | Connection, tables: Sequence[str]) -> bool:
    """ANALYZE tables a bulk job has grown, on PostgreSQL; True when it ran.

    The planner picks joins by each table's statistics. Right after a bulk load they still
    describe the empty table (autovacuum analyses later, or never where it is off), and a join
    planned for an empty table can hash a million rows where a few index probes would do (a
    hierarchy query of a bulk match took 1.7 s instead of 0.09 s). SQLite's planner does not
    need this; its ANALYZE would read whole tables.
    """
    connection = core_connection(bind)
    if connection.dialect.name != "postgresql" or not tables:
        return False
    connection.exec_driver_sql(f"ANALYZE {', '.join(tables)}")
    return True


def planner_rows(bind: Session | Connection, table: str) -> float:
    """How many rows the PostgreSQL planner thinks a table holds (0 if never analysed).

    Elsewhere 0: no other database here plans by gathered statistics.
    """
    connection = core_connection(bind)
    if connection.dialect.name != "postgresql":
        return 0.0
    rows = connection.execute(
        text("SELECT reltuples FROM pg_class WHERE oid = CAST(:table AS regclass)"),
        {"table": table},
    ).scalar_one_or_none()
    return max(float(rows or 0.0), 0.0)


def ids_parameter(
    column: QueryableAttribute[Any] | ColumnElement[Any], name: str, dialect: str
) -> ColumnElement[bool]:
    """``column IN :name`` for a statement built once and run with a list of IDs bound.

    The form `id_in` builds for each call, as a parameter: an array on PostgreSQL, an
    expanding IN list elsewhere. Building a statement costs more than running a small one, so
    hot paths build theirs once per dialect.
    """
    if dialect == "postgresql":
        return column == any_(bindparam(name, type_=ARRAY(BigInteger)))
    return column.in_(bindparam(name, expanding=True))


def text_in(
    column: QueryableAttribute[Any] | ColumnElement[Any], values: Sequence[str], session: Session
) -> ColumnElement[bool]:
    """``column IN values`` for strings, planned as index probes on PostgreSQL (see `id_in`)."""
    if is_postgres(session):
        return column == any_(bindparam(None, list(values), type_=_TEXT_ARRAY))
    return column.in_(list(values))


def table_of(model: type[Base]) -> Table:
    """The Core table of an ORM model, typed as such (for bulk Core statements)."""
    table = model.__table__
    if not isinstance(table, Table):  # pragma: no cover - every model here maps a table
        raise TypeError(f"{model.__name__} is not mapped to a table")
    return table
