"""Reading rows by a list of unique text IDs (event IDs, user IDs) without planner statistics.

PostgreSQL plans `key = ANY($1)` joins from table statistics; on a table that was never
analysed it may scan the whole table (and the tables joined to it) rather than probe its
unique index once per ID, because a table it believes small looks cheaper to scan. There
the IDs drive the statement instead: `unnest($1) CROSS JOIN LATERAL` one index probe
each, with LIMIT 1 (the key is unique) so the subquery is not flattened back into a join.
SQLite plans `IN (…)` as index probes anyway and keeps the plain statement.
"""

from __future__ import annotations

from veche.storage.database import Engine


def select_by_ids(engine: Engine, columns: str, table: str, key: str, joins: str = "") -> str:
    """`SELECT columns` from the rows of `table` (aliased `i`) whose unique text column
    `key` is in the statement's one list parameter, with `joins` on `i`. The statement
    takes that list as its only argument."""
    if engine == "postgres":
        return (
            f"SELECT {columns} FROM unnest(?::text[]) AS w(id)"
            f" CROSS JOIN LATERAL (SELECT * FROM {table} x WHERE x.{key} = w.id LIMIT 1) AS i{joins}"
        )
    return f"SELECT {columns} FROM {table} i{joins} WHERE i.{key} = ANY(?)"
