"""``mdm clients …``: create API clients (their secret is shown once), list and revoke them.

Mounted on the main command by the composition root (``mdm/cli.py``). Under it, the unit of
work comes from the main command's context object; alone (in tests, or run as its own app),
it is built from the settings.
"""

from __future__ import annotations

from typing import Annotated

import typer

from mdm.cli_context import unit_of_work
from mdm.clients.scopes import DESCRIPTIONS
from mdm.clients.service import create_client, list_clients, revoke_client
from mdm.errors import MdmError

clients_app = typer.Typer(
    help="API clients: OAuth2 client credentials and their scopes.", no_args_is_help=True
)


def _fail(exc: MdmError) -> typer.Exit:
    typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
    return typer.Exit(1)


_SCOPE_HELP = "A scope (repeat, or separate with spaces): " + "; ".join(
    f"{scope} = {text}" for scope, text in DESCRIPTIONS.items()
)


@clients_app.command("create")
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="What the client is, e.g. erp or acme-dist.")],
    scope: Annotated[list[str], typer.Option("--scope", "-s", help=_SCOPE_HELP)],
    source: Annotated[
        str | None,
        typer.Option(help="Bind the client to this source system as a partner."),
    ] = None,
) -> None:
    """Create a client and print its ID and secret (the secret is shown only this once)."""
    with unit_of_work(ctx).begin() as session:
        try:
            client, secret = create_client(session, name, scope, source)
        except MdmError as exc:
            raise _fail(exc) from exc
        typer.echo(f"client_id:     {client.client_id}")
        typer.echo(f"client_secret: {secret}")
        typer.echo(f"scopes:        {' '.join(client.scopes)}")
        if client.source_code:
            typer.echo(f"partner of:    {client.source_code}")
    typer.secho(
        "Store the secret now: the hub keeps only its hash. Get a token with\n"
        "  POST /v1/oauth/token  grant_type=client_credentials&client_id=…&client_secret=…",
        err=True,
    )


@clients_app.command("list")
def list_cmd(
    ctx: typer.Context,
    include_revoked: Annotated[bool, typer.Option("--all", help="Show revoked ones too.")] = False,
) -> None:
    """List the API clients with their scopes, source binding and state."""
    with unit_of_work(ctx).begin() as session:
        for client in list_clients(session, include_revoked=include_revoked):
            state = f"revoked {client.revoked_at:%Y-%m-%d}" if client.revoked_at else "active"
            typer.echo(
                f"{client.client_id:<50} {state:<18} {client.source_code or '-':<12} "
                f"{' '.join(client.scopes)}"
            )


@clients_app.command("revoke")
def revoke(ctx: typer.Context, client_id: str) -> None:
    """Revoke a client: its tokens stop working within MDM_CLIENT_CACHE_SECONDS."""
    with unit_of_work(ctx).begin() as session:
        try:
            revoke_client(session, client_id)
        except MdmError as exc:
            raise _fail(exc) from exc
    typer.echo(f"revoked {client_id}")
