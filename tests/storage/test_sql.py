"""Translation of the portable SQL dialect."""

from veche.storage.sql import split_statements, to_postgres, to_sqlite


def test_placeholders_are_numbered_outside_literals() -> None:
    sql = "SELECT '?', \"a?\", 'it''s ?' FROM t WHERE x = ? AND y = ANY(?) -- why? don't\n AND z = ?"
    assert to_postgres(sql) == (
        "SELECT '?', \"a?\", 'it''s ?' FROM t WHERE x = $1 AND y = ANY($2) -- why? don't\n AND z = $3"
    )


def test_any_becomes_json_each_on_sqlite() -> None:
    assert to_sqlite("SELECT 1 FROM t WHERE x = ANY( ? ) AND y = '= ANY(?)'") == (
        "SELECT 1 FROM t WHERE x IN (SELECT value FROM json_each(?)) AND y = '= ANY(?)'"
    )


def test_split_statements_ignores_semicolons_in_literals_and_comments() -> None:
    script = "CREATE TABLE a (x TEXT DEFAULT ';'); -- it's; a comment\nCREATE INDEX b ON a (x);\n"
    assert split_statements(script) == ["CREATE TABLE a (x TEXT DEFAULT ';')", "CREATE INDEX b ON a (x)"]
