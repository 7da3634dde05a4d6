"""Small helpers that keep Drumbeat's hand-written Piccolo migrations short.

Plugins use it too, as ``from drumbeat import migration_kit``.
A migration declares each table as Piccolo columns, frozen in the migration file itself
(never imported from ``drumbeat.platform.tables``, which keeps evolving).
"""

from __future__ import annotations

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.base import Column
from piccolo.engine import engine_finder
from piccolo.querystring import QueryString


def create_table(manager: MigrationManager, class_name: str, tablename: str, **columns: Column):
    """Add a table and its columns (an ``id`` serial primary key is implied)."""
    manager.add_table(class_name=class_name, tablename=tablename)
    for name, column in columns.items():
        params = {k: v for k, v in column._meta.params.items() if k != "choices"}
        manager.add_column(
            table_class_name=class_name,
            tablename=tablename,
            column_name=name,
            db_column_name=name,
            column_class_name=type(column).__name__,
            column_class=type(column),
            params=params,
        )


def run_sql(*statements: str):
    """A raw migration step running ``statements`` in the migration's transaction."""

    async def step() -> None:
        engine = engine_finder()
        for statement in statements:
            await engine.run_querystring(QueryString(statement))

    return step
