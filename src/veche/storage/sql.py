"""Rewriting the portable SQL dialect for each engine (see `veche.storage.database`)."""

from __future__ import annotations

import functools
import re

_ANY_PARAM = re.compile(r"=\s*ANY\s*\(\s*\?\s*\)", re.IGNORECASE)


def _split_code_and_literals(sql: str) -> list[tuple[bool, str]]:
    """Cut `sql` into (is_code, text) runs; quoted strings, names and comments are not code."""
    parts: list[tuple[bool, str]] = []
    i = start = 0
    n = len(sql)
    while i < n:
        ch = sql[i]
        if ch == "-" and sql.startswith("--", i):
            if i > start:
                parts.append((True, sql[start:i]))
            j = sql.find("\n", i)
            j = n if j < 0 else j
            parts.append((False, sql[i:j]))
            i = start = j
            continue
        if ch in ("'", '"'):
            if i > start:
                parts.append((True, sql[start:i]))
            j = i + 1
            while j < n:
                if sql[j] == ch:
                    # A doubled quote is an escaped quote, not the end.
                    if j + 1 < n and sql[j + 1] == ch:
                        j += 2
                        continue
                    break
                j += 1
            parts.append((False, sql[i : j + 1]))
            i = start = j + 1
            continue
        i += 1
    if start < n:
        parts.append((True, sql[start:]))
    return parts


@functools.lru_cache(maxsize=4096)
def to_postgres(sql: str) -> str:
    """`?` → `$n`, counting only placeholders outside literals."""
    out: list[str] = []
    counter = 0
    for is_code, text in _split_code_and_literals(sql):
        if not is_code:
            out.append(text)
            continue
        pieces = text.split("?")
        out.append(pieces[0])
        for piece in pieces[1:]:
            counter += 1
            out.append(f"${counter}")
            out.append(piece)
    return "".join(out)


@functools.lru_cache(maxsize=4096)
def to_sqlite(sql: str) -> str:
    """`= ANY(?)` → `IN (SELECT value FROM json_each(?))`; the list travels as JSON text."""
    out: list[str] = []
    for is_code, text in _split_code_and_literals(sql):
        out.append(_ANY_PARAM.sub("IN (SELECT value FROM json_each(?))", text) if is_code else text)
    return "".join(out)


def split_statements(script: str) -> list[str]:
    """Split a migration script on `;` outside literals and `--` comments.

    Good enough for DDL; scripts must not contain triggers or other `;`-bearing bodies.
    """
    statements: list[str] = []
    current: list[str] = []
    for is_code, text in _split_code_and_literals(_strip_comments(script)):
        if not is_code:
            current.append(text)
            continue
        pieces = text.split(";")
        current.append(pieces[0])
        for piece in pieces[1:]:
            statements.append("".join(current))
            current = [piece]
    statements.append("".join(current))
    return [s.strip() for s in statements if s.strip()]


def _strip_comments(script: str) -> str:
    return "".join(
        text
        for is_code, text in _split_code_and_literals(script)
        if is_code or not text.startswith("--")
    )
