"""The ``mdm`` command line: database, sources, ingestion and the sample run.

This is a composition root: it builds the settings, the engine and the unit of work, and wires
the services together. Nothing happens at import time.
"""

from __future__ import annotations

import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import func, select

from mdm import migrate
from mdm.canonical.models import EntityType
from mdm.database import UnitOfWork, create_engine
from mdm.errors import MdmError
from mdm.ingest.models import IngestBatch, RejectedRecord
from mdm.ingest.service import FileIngestResult, ingest_file
from mdm.mapping.models import SourceMapping
from mdm.mapping.service import load_mappings
from mdm.settings import Settings
from mdm.sources.models import SourceRecord
from mdm.sources.service import list_source_systems, sync_source_systems

app = typer.Typer(
    help="Master data hub: ingest, match, golden records, publish.", no_args_is_help=True
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
sources_app = typer.Typer(help="Source systems.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(sources_app, name="sources")


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
    _summary(uow)


def _summary(uow: UnitOfWork) -> None:
    with uow.begin() as session:
        by_entity = session.execute(
            select(SourceRecord.entity_type, func.count())
            .where(SourceRecord.deleted_at.is_(None))
            .group_by(SourceRecord.entity_type)
        ).all()
        rejected = session.scalar(select(func.count()).select_from(RejectedRecord)) or 0
        batches = session.scalar(select(func.count()).select_from(IngestBatch)) or 0
    counts = ", ".join(f"{n} {entity} records" for entity, n in sorted(by_entity))
    typer.echo(f"hub holds {counts or 'no records'}; {batches} batches, {rejected} rejected rows")


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


def main() -> None:
    """Entry point of the ``mdm`` console command."""
    try:
        app()
    except MdmError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        sys.exit(1)
