"""Developer chores that CI also runs: ``python -m mdm.devtools recreate-database URL``."""

from __future__ import annotations

import sys

from sqlalchemy import text
from sqlalchemy.engine import make_url

from mdm.database import create_engine


def recreate_database(url: str) -> None:
    """Drop and create an empty PostgreSQL database (for checks that need a clean one)."""
    target = make_url(url)
    admin = create_engine(
        target.set(database="postgres").render_as_string(hide_password=False)
    ).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{target.database}"'))
    admin.dispose()


def drop_database(url: str) -> None:
    """Drop a PostgreSQL database if it exists."""
    target = make_url(url)
    admin = create_engine(
        target.set(database="postgres").render_as_string(hide_password=False)
    ).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)'))
    admin.dispose()


def main(argv: list[str]) -> int:
    """Run a chore named on the command line."""
    if len(argv) == 2 and argv[0] == "recreate-database":
        recreate_database(argv[1])
        return 0
    print("usage: python -m mdm.devtools recreate-database URL", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
