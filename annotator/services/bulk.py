"""Fast bulk inserts for imports of millions of rows: ids reserved up front, `executemany`.

Django's `bulk_create` spends most of its time building model instances and SQL per row; imports
of AVA files (a million rows and more) insert plain tuples instead. Call these inside
`transaction.atomic()`: on SQLite the transaction holds the write lock from its start (the
settings use IMMEDIATE transactions), so the ids after the current maximum are ours.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connection
from django.db.models import Model

BATCH = 20_000


def ids_reserve(model: type[Model], count: int) -> list[int]:
    """`count` primary keys for new rows of `model` that no other insert will take."""
    if count == 0:
        return []
    table = model._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
                [table, count],
            )
            return [row[0] for row in cursor.fetchall()]
        if connection.vendor != "sqlite":
            raise NotImplementedError(
                f"bulk inserts support sqlite and postgresql, not {connection.vendor}"
            )
        # The table name comes from model meta, never from input.
        cursor.execute(f'SELECT COALESCE(MAX(id), 0) FROM "{table}"')
        highest = cursor.fetchone()[0]
        cursor.execute("SELECT seq FROM sqlite_sequence WHERE name = %s", [table])
        sequence = cursor.fetchone()
        first = max(highest, sequence[0] if sequence else 0) + 1
    return list(range(first, first + count))


def rows_insert(
    model: type[Model],
    columns: Sequence[str],
    rows: Sequence[Sequence[object]],
    *,
    ignore_conflicts: bool = False,
) -> None:
    """INSERT plain tuples (in `columns` order) into `model`'s table, BATCH rows per statement."""
    table = model._meta.db_table
    names = ", ".join(f'"{column}"' for column in columns)
    placeholders = ", ".join(["%s"] * len(columns))
    # Table and column names come from model meta; the values go as parameters.
    sql = f'INSERT INTO "{table}" ({names}) VALUES ({placeholders})'
    if ignore_conflicts:
        sql += " ON CONFLICT DO NOTHING"
    with connection.cursor() as cursor:
        for start in range(0, len(rows), BATCH):
            cursor.executemany(sql, rows[start : start + BATCH])
