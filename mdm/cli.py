"""The ``mdm`` command line: database, sources, ingestion and the sample run.

This is a composition root: it builds the settings, the engine and the unit of work, and wires
the services together. Nothing happens at import time.
"""

from __future__ import annotations

import sys
import tomllib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mdm import migrate
from mdm.canonical.models import EntityType
from mdm.clients.cli import clients_app
from mdm.database import UnitOfWork, create_engine
from mdm.errors import MdmError
from mdm.golden.models import GoldenMember
from mdm.hierarchies.cli import hierarchy_app
from mdm.ingest.models import IngestBatch, RejectedRecord
from mdm.ingest.service import FileIngestResult, ingest_file
from mdm.linkage.service import golden_counts
from mdm.mapping.models import SourceMapping
from mdm.mapping.service import load_mappings
from mdm.outbox.service import ChangeContext
from mdm.settings import Settings
from mdm.sources.models import SourceRecord, SourceSystem
from mdm.sources.service import list_source_systems, sync_source_systems
from mdm.stewardship.models import MatchCandidate

app = typer.Typer(
    help="Master data hub: ingest, match, golden records, publish.", no_args_is_help=True
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
sources_app = typer.Typer(help="Source systems.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(sources_app, name="sources")
review_app = typer.Typer(help="The steward review queue.", no_args_is_help=True)
golden_app = typer.Typer(help="Golden records.", no_args_is_help=True)
app.add_typer(review_app, name="review")
app.add_typer(golden_app, name="golden")
app.add_typer(hierarchy_app, name="hierarchy")
app.add_typer(clients_app, name="clients")


@dataclass
class Context:
    """What every command needs, built once per invocation."""

    settings: Settings

    def uow(self) -> UnitOfWork:
        """A unit of work on the configured database."""
        return UnitOfWork(create_engine(self.settings.database_url, echo=self.settings.echo_sql))

    def mappings(self) -> dict[str, SourceMapping]:
        """The mapping files of every source system."""
        return load_mappings([self.settings.mappings_dir])


def _ctx(ctx: typer.Context) -> Context:
    obj = ctx.obj
    if not isinstance(obj, Context):
        obj = Context(Settings())
        ctx.obj = obj
    return obj


@app.callback()
def _main(
    ctx: typer.Context,
    database_url: Annotated[
        str | None, typer.Option(help="Overrides MDM_DATABASE_URL.", show_default=False)
    ] = None,
) -> None:
    settings = Settings()
    if database_url:
        settings = settings.model_copy(update={"database_url": database_url})
    ctx.obj = Context(settings)


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(code)


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context, revision: str = "head") -> None:
    """Migrate the database to the newest schema."""
    settings = _ctx(ctx).settings
    migrate.upgrade(settings.database_url, revision)
    typer.echo(f"database at {revision}: {_safe_url(settings.database_url)}")


@db_app.command("downgrade")
def db_downgrade(ctx: typer.Context, revision: str) -> None:
    """Migrate the database down to a revision ('base' empties it)."""
    migrate.downgrade(_ctx(ctx).settings.database_url, revision)


@db_app.command("check")
def db_check(ctx: typer.Context) -> None:
    """Fail when the models and the migrations disagree."""
    migrate.check(_ctx(ctx).settings.database_url)
    typer.echo("models and migrations agree")


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@sources_app.command("sync")
def sources_sync(ctx: typer.Context) -> None:
    """Register every source system that has a mapping file."""
    context = _ctx(ctx)
    mappings = context.mappings()
    with context.uow().begin() as session:
        synced = sync_source_systems(session, [m.source for m in mappings.values()])
        typer.echo(f"{len(synced)} source systems: {', '.join(s.code for s in synced)}")


@sources_app.command("list")
def sources_list(ctx: typer.Context) -> None:
    """List the registered source systems."""
    with _ctx(ctx).uow().begin() as session:
        for system in list_source_systems(session):
            typer.echo(
                f"{system.code:<16} {system.kind:<12} rank {system.trust_rank:<4} {system.name}"
            )


def _entity_for(mapping: SourceMapping, entity: EntityType | None) -> EntityType:
    if entity is not None:
        return entity
    if len(mapping.entities) == 1:
        return next(iter(mapping.entities))
    names = " or ".join(e.value for e in mapping.entities)
    raise MdmError(f"source '{mapping.source.code}' sends {names}: pass --entity")


def _run_ingest(
    context: Context, uow: UnitOfWork, source: str, entity: EntityType | None, file: Path
) -> FileIngestResult:
    from tqdm import tqdm

    mappings = context.mappings()
    if source not in mappings:
        known = ", ".join(sorted(mappings)) or "none"
        raise MdmError(f"unknown source system '{source}' (known: {known})")
    mapping = mappings[source]
    entity_type = _entity_for(mapping, entity)
    if not file.is_file():
        raise MdmError(f"no such file: {file}")
    with uow.begin() as session:
        sync_source_systems(session, [mapping.source])
    with tqdm(desc=f"{source}/{entity_type.value}", unit=" rec", disable=None, leave=False) as bar:
        return ingest_file(
            uow,
            mapping,
            entity_type,
            file,
            chunk_size=context.settings.ingest_chunk_size,
            progress=bar.update,
            # Worker processes pay off for large files only.
            workers=context.settings.ingest_workers if file.stat().st_size > 2_000_000 else 1,
        )


def _print_result(source: str, file: Path, result: FileIngestResult) -> None:
    c = result.counts
    typer.echo(
        f"{source:<12} {file.name:<34} read {c.read:>7}  new {c.new:>7}  changed {c.changed:>6}"
        f"  unchanged {c.unchanged:>7}  deleted {c.deleted:>5}  rejected {c.rejected:>5}"
    )
    for outcome in result.rejections:
        reasons = "; ".join(f"{e['field']}: {e['message']}" for e in outcome.errors)
        where = f"line {outcome.position}" if outcome.position else "record"
        who = f" ({outcome.source_id})" if outcome.source_id else ""
        typer.secho(f"    rejected {where}{who}: {reasons}", fg=typer.colors.YELLOW)


@app.command("ingest")
def ingest(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="A CSV or JSON-lines file.")],
    source: Annotated[str, typer.Option("--source", "-s", help="Source system code.")],
    entity: Annotated[
        EntityType | None, typer.Option("--entity", "-e", help="customer or product.")
    ] = None,
) -> None:
    """Load a source file: map, validate, and upsert its records idempotently."""
    context = _ctx(ctx)
    try:
        result = _run_ingest(context, context.uow(), source, entity, file)
    except MdmError as exc:
        raise _fail(str(exc)) from exc
    _print_result(source, file, result)


def _manifest(samples_dir: Path) -> list[tuple[str, EntityType, Path]]:
    manifest = samples_dir / "manifest.toml"
    if not manifest.is_file():
        raise MdmError(f"no sample manifest at {manifest}")
    document = tomllib.loads(manifest.read_text(encoding="utf-8"))
    return [
        (str(f["source"]), EntityType(f["entity"]), samples_dir / str(f["path"]))
        for f in document.get("files", [])
    ]


@app.command("load-samples")
def load_samples(
    ctx: typer.Context,
    samples_dir: Annotated[Path, typer.Option(help="Folder with manifest.toml.")] = Path("samples"),
) -> None:
    """Load every sample source file listed in the samples' manifest."""
    context = _ctx(ctx)
    uow = context.uow()
    try:
        files = _manifest(samples_dir)
        with uow.begin() as session:
            sync_source_systems(session, [m.source for m in context.mappings().values()])
        for source, entity, path in files:
            _print_result(source, path, _run_ingest(context, uow, source, entity, path))
    except MdmError as exc:
        raise _fail(str(exc)) from exc
    _match_all(
        uow,
        ChangeContext(actor="cli", cause="load-samples"),
        workers=context.settings.ingest_workers,
    )
    _summary(uow)


def _match_all(
    uow: UnitOfWork,
    ctx: ChangeContext,
    entity: EntityType | None = None,
    *,
    retrain: bool = False,
    workers: int = 1,
) -> None:
    from mdm.linkage.service import run_matching

    for entity_type in [entity] if entity else list(EntityType):
        s = run_matching(uow, entity_type.value, ctx, retrain=retrain, workers=workers)
        if s.records or s.deleted:
            typer.echo(
                f"matched {s.records} {entity_type.value} records ({s.deleted} deleted): "
                f"{s.candidate_pairs} candidate pairs, {s.new_goldens} new golden records, "
                f"{s.merged_goldens} merged, {s.review_tasks} review tasks"
            )
        for key, size in s.capped_keys[:5]:
            typer.echo(f"    capped blocking key {key!r}: {size} records share it")


def _summary(uow: UnitOfWork) -> None:
    with uow.begin() as session:
        by_entity = session.execute(
            select(SourceRecord.entity_type, func.count())
            .where(SourceRecord.deleted_at.is_(None))
            .group_by(SourceRecord.entity_type)
        ).all()
        rejected = session.scalar(select(func.count()).select_from(RejectedRecord)) or 0
        batches = session.scalar(select(func.count()).select_from(IngestBatch)) or 0
        goldens = golden_counts(session)
        links = session.scalar(select(func.count()).select_from(GoldenMember)) or 0
        tasks = session.scalar(
            select(func.count()).select_from(MatchCandidate).where(MatchCandidate.status == "open")
        )
    counts = ", ".join(f"{n} {entity} records" for entity, n in sorted(by_entity))
    typer.echo(f"hub holds {counts or 'no records'}; {batches} batches, {rejected} rejected rows")
    for entity, by_status in sorted(goldens.items()):
        statuses = ", ".join(f"{n} {status}" for status, n in sorted(by_status.items()))
        typer.echo(f"golden {entity} records: {statuses}")
    typer.echo(f"cross-reference links: {links}; open review tasks: {tasks}")


@app.command("rejects")
def rejects(
    ctx: typer.Context,
    batch: Annotated[int | None, typer.Option(help="Only this batch.")] = None,
    limit: int = 50,
) -> None:
    """List rejected records with their reasons."""
    with _ctx(ctx).uow().begin() as session:
        query = select(RejectedRecord).order_by(RejectedRecord.id.desc()).limit(limit)
        if batch is not None:
            query = query.where(RejectedRecord.batch_id == batch)
        for r in session.scalars(query):
            reasons = "; ".join(f"{e['field']}: {e['message']}" for e in r.errors)
            typer.echo(f"batch {r.batch_id} line {r.position} {r.source_id or '-'}: {reasons}")


@app.command("generate")
def generate(
    out_dir: Annotated[Path, typer.Argument(help="Where to write the source files.")],
    customers: int = 10_000,
    products: int = 10_000,
    seed: int = 0,
) -> None:
    """Write a synthetic multi-source data set with its ground truth."""
    from mdm.synthetic import write_dataset

    info = write_dataset(out_dir, customers=customers, products=products, seed=seed)
    typer.echo(str(info))


@app.command("match")
def match(
    ctx: typer.Context,
    entity: Annotated[EntityType | None, typer.Option("--entity", "-e")] = None,
    retrain: Annotated[bool, typer.Option(help="Train a new model first.")] = False,
    rematch: Annotated[
        bool, typer.Option(help="Re-match every record, not only new ones.")
    ] = False,
) -> None:
    """Match the records waiting to be matched (or all of them, after a model change)."""
    uow = _ctx(ctx).uow()
    if rematch:
        from sqlalchemy import update

        with uow.begin() as session:
            query = update(SourceRecord).values(matched_version=0)
            if entity:
                query = query.where(SourceRecord.entity_type == entity.value)
            session.execute(query)
    _match_all(
        uow,
        ChangeContext(actor="cli", cause="match"),
        entity,
        retrain=retrain or rematch,
        workers=_ctx(ctx).settings.ingest_workers,
    )
    _summary(uow)


def _echo_json(value: object) -> None:
    import orjson

    typer.echo(orjson.dumps(value, option=orjson.OPT_INDENT_2, default=str).decode())


@golden_app.command("show")
def golden_show(ctx: typer.Context, golden_id: int) -> None:
    """Show a golden record with provenance and cross-reference (follows merge redirects)."""
    from mdm.golden.service import resolve, snapshot, xrefs_of

    with _ctx(ctx).uow().begin() as session:
        try:
            golden, redirected = resolve(session, golden_id)
        except MdmError as exc:
            raise _fail(str(exc)) from exc
        if redirected:
            typer.echo(f"golden record {redirected} was merged into {golden.id}")
        _echo_json(
            {
                **snapshot(golden),
                "provenance": golden.provenance,
                "xref": [asdict(x) for x in xrefs_of(session, golden.id)],
            }
        )


@app.command("xref")
def xref(
    ctx: typer.Context,
    source: str,
    source_id: str,
    entity: Annotated[EntityType, typer.Option("--entity", "-e")] = EntityType.CUSTOMER,
) -> None:
    """Look a source record up: its golden record and every other system's ID for it."""
    from mdm.golden.service import golden_of_source, xrefs_of

    with _ctx(ctx).uow().begin() as session:
        try:
            golden = golden_of_source(session, source, entity.value, source_id)
        except MdmError as exc:
            raise _fail(str(exc)) from exc
        typer.echo(f"golden {entity.value} {golden.id} (version {golden.version})")
        for x in xrefs_of(session, golden.id):
            typer.echo(f"  {x.source:<14} {x.source_id:<24} {x.link_reason}")


@review_app.command("list")
def review_list(
    ctx: typer.Context,
    entity: Annotated[EntityType | None, typer.Option("--entity", "-e")] = None,
    limit: int = 20,
) -> None:
    """List open review tasks, most urgent first, with the engine's explanation."""
    from mdm.stewardship.service import review_queue

    with _ctx(ctx).uow().begin() as session:
        for task in review_queue(
            session, entity_type=entity.value if entity else None, limit=limit
        ):
            typer.echo(
                f"task {task.id} v{task.version} {task.entity_type} records "
                f"{task.left_record_id}~{task.right_record_id} p={task.probability:.3f}: "
                f"{task.explanation.get('text', '')}"
            )


def _task_version(session: Session, task_id: int) -> int:
    task = session.get(MatchCandidate, task_id)
    if task is None:
        raise MdmError(f"review task {task_id} does not exist")
    return task.version


@review_app.command("accept")
def review_accept(ctx: typer.Context, task_id: int, note: str = "", actor: str = "steward") -> None:
    """Accept a review task: merge the two records' golden records."""
    from mdm.stewardship.service import accept

    with _ctx(ctx).uow().begin() as session:
        target = accept(
            session,
            task_id,
            _task_version(session, task_id),
            ChangeContext(actor=actor, cause=f"review {task_id}"),
            note,
        )
    typer.echo(f"task {task_id} accepted: golden record {target}")


@review_app.command("reject")
def review_reject(ctx: typer.Context, task_id: int, note: str = "", actor: str = "steward") -> None:
    """Reject a review task: the records are different and are never proposed again."""
    from mdm.stewardship.service import reject

    with _ctx(ctx).uow().begin() as session:
        reject(
            session,
            task_id,
            _task_version(session, task_id),
            ChangeContext(actor=actor, cause=f"review {task_id}"),
            note,
        )
    typer.echo(f"task {task_id} rejected")


@app.command("merge")
def merge_cmd(
    ctx: typer.Context, golden_ids: list[int], reason: str = "", actor: str = "steward"
) -> None:
    """Merge golden records by hand (the oldest keeps its ID; the others redirect to it)."""
    from mdm.golden.models import GoldenRecord
    from mdm.stewardship.service import merge_goldens

    with _ctx(ctx).uow().begin() as session:
        versions = {}
        for gid in golden_ids:
            golden = session.get(GoldenRecord, gid)
            if golden is None:
                raise MdmError(f"golden record {gid} does not exist")
            versions[gid] = golden.version
        survivor = merge_goldens(
            session, versions, ChangeContext(actor=actor, cause="merge"), reason
        )
    typer.echo(f"merged into golden record {survivor}")


@app.command("unmerge")
def unmerge_cmd(
    ctx: typer.Context,
    source: str,
    source_id: str,
    entity: Annotated[EntityType, typer.Option("--entity", "-e")] = EntityType.CUSTOMER,
    reason: str = "",
    actor: str = "steward",
) -> None:
    """Split a source record off its golden record."""
    from mdm.golden.service import golden_of_source
    from mdm.stewardship.service import unmerge

    with _ctx(ctx).uow().begin() as session:
        golden = golden_of_source(session, source, entity.value, source_id)
        record_id = session.scalar(
            select(GoldenMember.source_record_id)
            .join(SourceRecord, SourceRecord.id == GoldenMember.source_record_id)
            .join(SourceSystem, SourceSystem.id == SourceRecord.source_system_id)
            .where(
                SourceSystem.code == source,
                SourceRecord.source_id == source_id,
                SourceRecord.entity_type == entity.value,
            )
        )
        assert record_id is not None
        target = unmerge(
            session, record_id, golden.version, ChangeContext(actor=actor, cause="unmerge"), reason
        )
    typer.echo(f"{source} {source_id} now belongs to golden record {target}")


@app.command("feed")
def feed(
    ctx: typer.Context,
    after: int = 0,
    limit: int = 20,
    entity: Annotated[EntityType | None, typer.Option("--entity", "-e")] = None,
) -> None:
    """Print the change feed after a sequence number, as JSON lines."""
    import orjson

    from mdm.outbox.service import event_as_dict, read_feed

    with _ctx(ctx).uow().begin() as session:
        for event in read_feed(
            session, after=after, limit=limit, entity_type=entity.value if entity else None
        ):
            typer.echo(orjson.dumps(event_as_dict(event)).decode())


@app.command("serve")
def serve_cmd(
    ctx: typer.Context,
    workers: Annotated[int | None, typer.Option(help="Server processes.")] = None,
    host: Annotated[str | None, typer.Option(help="Overrides MDM_API_HOST.")] = None,
    port: Annotated[int | None, typer.Option(help="Overrides MDM_API_PORT.")] = None,
) -> None:
    """Serve the HTTP API (OpenAPI at /schema)."""
    from mdm.api.server import serve

    settings = _ctx(ctx).settings
    updates = {k: v for k, v in {"api_host": host, "api_port": port}.items() if v is not None}
    if updates:
        settings = settings.model_copy(update=updates)
    typer.echo(f"serving on http://{settings.api_host}:{settings.api_port} (OpenAPI at /schema)")
    serve(settings, workers=workers or settings.api_workers)


def main() -> None:
    """Entry point of the ``mdm`` console command."""
    try:
        app()
    except MdmError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
