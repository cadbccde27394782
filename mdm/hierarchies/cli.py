"""``mdm hierarchy …``: show a customer's place in the hierarchy, roll it up, list steward tasks.

Mounted on the main command by the composition root (``mdm/cli.py``). Under it, the unit of
work comes from the main command's context object; alone (in tests, or run as its own app),
it is built from the settings.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import orjson
import typer

from mdm.cli_context import unit_of_work
from mdm.errors import MdmError
from mdm.hierarchies.service import ancestors, conflicts, parents_of, rollup, tree

hierarchy_app = typer.Typer(help="The customer hierarchy between golden records.")


def _echo_json(value: Any) -> None:
    typer.echo(orjson.dumps(value, option=orjson.OPT_INDENT_2, default=str).decode())


def _fail(exc: MdmError) -> typer.Exit:
    typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
    return typer.Exit(1)


AsOf = Annotated[
    datetime | None,
    typer.Option("--as-of", help="Read the hierarchy as it was then (ISO date or time, UTC)."),
]


@hierarchy_app.command("show")
def show(ctx: typer.Context, golden_id: int, as_of: AsOf = None) -> None:
    """Show a golden record's parents, its path to the ultimate parent and its subtree."""
    with unit_of_work(ctx).begin() as session:
        try:
            _echo_json(
                {
                    "parents": [e.as_dict() for e in parents_of(session, golden_id, as_of=as_of)],
                    "path_to_root": [
                        {
                            "golden_id": n.golden_id,
                            "role": n.role,
                            "name": n.name,
                            "via": n.relation,
                        }
                        for n in ancestors(session, golden_id, as_of=as_of, names=True)
                    ],
                    "tree": tree(session, golden_id, as_of=as_of),
                }
            )
        except MdmError as exc:
            raise _fail(exc) from exc


@hierarchy_app.command("rollup")
def rollup_cmd(
    ctx: typer.Context,
    golden_id: int,
    role: Annotated[str, typer.Option(help="The role to count under the node.")] = "ship_to",
    as_of: AsOf = None,
) -> None:
    """Count and list the golden records of one role under a node (ship-tos by default)."""
    with unit_of_work(ctx).begin() as session:
        try:
            result = rollup(session, golden_id, role=role, as_of=as_of)
        except MdmError as exc:
            raise _fail(exc) from exc
        _echo_json(
            {
                "golden_id": result.golden_id,
                "role": result.role,
                "count": result.count,
                "members": list(result.members),
            }
        )


@hierarchy_app.command("conflicts")
def conflicts_cmd(
    ctx: typer.Context,
    status: Annotated[str, typer.Option(help="open or resolved.")] = "open",
    limit: int = 50,
) -> None:
    """List the hierarchy tasks for stewards: disagreeing sources and refused edges."""
    with unit_of_work(ctx).begin() as session:
        for task in conflicts(session, status=status, limit=limit):
            claims = ", ".join(
                f"{c['source']} {c['source_id']} → {c['parent_source']} {c['parent_source_id']}"
                f" (golden {c['parent_golden_id']})"
                for c in task.claims
            )
            typer.echo(
                f"#{task.id} v{task.version} {task.kind:<12} golden {task.child_golden_id} "
                f"{task.relation}: applied {task.applied_parent_id}; {claims}"
            )
            if task.kind == "invalid":
                typer.echo(f"    {task.message}")
