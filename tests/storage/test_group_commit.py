"""Group commit: concurrent write transactions share a physical commit, on every engine,
without weakening what each caller is promised."""

from __future__ import annotations

import asyncio

import pytest

from veche.storage.database import Database, DatabaseError, IntegrityError, Transaction
from veche.storage.group_commit import GroupCommitter, WriterConnection


async def _make_table(db: Database) -> None:
    async with db.transaction() as txn:
        await txn.execute("CREATE TABLE g (id BIGINT PRIMARY KEY, name TEXT NOT NULL UNIQUE)")


async def test_each_writer_sees_its_data_committed_when_its_block_ends(database: Database) -> None:
    await _make_table(database)
    seen: list[int] = []

    async def write(i: int) -> None:
        async with database.transaction() as txn:
            await txn.execute("INSERT INTO g (id, name) VALUES (?, ?)", i, f"n{i}")
        # Another connection: only committed data is visible there.
        seen.append(await database.fetchval("SELECT COUNT(*) FROM g WHERE id = ?", i))

    await asyncio.gather(*(write(i) for i in range(30)))
    assert seen == [1] * 30


async def test_a_failing_transaction_leaves_its_batch_alone(database: Database) -> None:
    await _make_table(database)
    await database.execute("INSERT INTO g (id, name) VALUES (?, ?)", 0, "taken")

    async def write(i: int) -> None:
        async with database.transaction() as txn:
            await txn.execute("INSERT INTO g (id, name) VALUES (?, ?)", i, f"n{i}")
            if i % 3 == 0:
                await txn.execute("INSERT INTO g (id, name) VALUES (?, ?)", 1000 + i, "taken")

    results = await asyncio.gather(*(write(i) for i in range(1, 16)), return_exceptions=True)
    assert [type(r) for r in results] == [IntegrityError if i % 3 == 0 else type(None) for i in range(1, 16)]
    ids = [row[0] for row in await database.fetchall("SELECT id FROM g ORDER BY id")]
    assert ids == [0] + [i for i in range(1, 16) if i % 3 != 0]


async def test_a_cancelled_writer_does_not_break_the_writer(database: Database) -> None:
    await _make_table(database)
    started = asyncio.Event()

    async def slow() -> None:
        async with database.transaction() as txn:
            await txn.execute("INSERT INTO g (id, name) VALUES (?, ?)", 1, "slow")
            started.set()
            await asyncio.sleep(10)

    task = asyncio.create_task(slow())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    async with database.transaction() as txn:
        await txn.execute("INSERT INTO g (id, name) VALUES (?, ?)", 2, "next")
    assert await database.fetchall("SELECT id FROM g") == [(2,)]


class _FakeTransaction(Transaction):
    async def execute(self, sql: str, *args: object) -> int:
        return 0

    async def executemany(self, sql: str, rows: object) -> None:
        return None

    async def fetchall(self, sql: str, *args: object) -> list[tuple[object, ...]]:
        return []


class _RecordingWriter(WriterConnection[_FakeTransaction]):
    def __init__(self, fail_commit: bool = False) -> None:
        self.log: list[str] = []
        self.fail_commit = fail_commit

    async def begin(self) -> None:
        self.log.append("begin")

    async def savepoint(self) -> None:
        self.log.append("savepoint")

    async def release(self) -> None:
        self.log.append("release")

    async def rollback_to_savepoint(self) -> bool:
        self.log.append("rollback_to")
        return True

    async def commit(self) -> None:
        await asyncio.sleep(0.01)  # a slow fsync, during which others queue
        if self.fail_commit:
            raise OSError("disk full")
        self.log.append("commit")

    async def rollback(self) -> None:
        self.log.append("rollback")

    def transaction(self) -> _FakeTransaction:
        return _FakeTransaction()


async def test_queued_transactions_share_one_commit() -> None:
    writer = _RecordingWriter()
    committer = GroupCommitter(writer)

    async def write() -> None:
        async with committer.transaction():
            await asyncio.sleep(0)

    await asyncio.gather(*(write() for _ in range(20)))
    # The first commits alone; the others queued behind it commit together.
    assert writer.log.count("commit") <= 3
    # Each member but the first of its batch in a savepoint.
    assert writer.log.count("savepoint") == 20 - writer.log.count("begin")


async def test_a_lone_transaction_commits_at_once() -> None:
    writer = _RecordingWriter()
    committer = GroupCommitter(writer)
    async with committer.transaction():
        pass
    # Alone in its physical transaction, it needs no savepoint.
    assert writer.log == ["begin", "commit"]


async def test_a_failing_first_member_rolls_its_physical_transaction_back() -> None:
    writer = _RecordingWriter()
    committer = GroupCommitter(writer)
    with pytest.raises(ValueError):
        async with committer.transaction():
            raise ValueError("refused")
    async with committer.transaction():
        pass
    assert writer.log == ["begin", "rollback", "begin", "commit"]


async def test_a_failing_later_member_rolls_back_to_its_savepoint_only() -> None:
    writer = _RecordingWriter()
    committer = GroupCommitter(writer)
    first_inside = asyncio.Event()

    async def first() -> None:
        async with committer.transaction():
            first_inside.set()
            await asyncio.sleep(0.01)  # the second queues behind it

    async def second() -> None:
        await first_inside.wait()
        async with committer.transaction():
            raise ValueError("refused")

    results = await asyncio.gather(first(), second(), return_exceptions=True)
    assert results[0] is None and isinstance(results[1], ValueError)
    assert writer.log == ["begin", "savepoint", "rollback_to", "commit"]


async def test_a_failed_commit_fails_every_member() -> None:
    writer = _RecordingWriter(fail_commit=True)
    committer = GroupCommitter(writer)

    async def write() -> None:
        async with committer.transaction():
            await asyncio.sleep(0)

    results = await asyncio.gather(*(write() for _ in range(5)), return_exceptions=True)
    assert all(isinstance(r, OSError) for r in results)
    writer.fail_commit = False
    async with committer.transaction():
        pass
    assert writer.log[-1] == "commit"


async def test_closing_waits_for_the_transaction_under_way_then_refuses_new_ones() -> None:
    writer = _RecordingWriter()
    committer = GroupCommitter(writer)
    inside = asyncio.Event()

    async def slow() -> None:
        async with committer.transaction():
            inside.set()
            await asyncio.sleep(0.05)

    task = asyncio.create_task(slow())
    await inside.wait()
    assert await committer.close()
    assert task.done() and writer.log[-1] == "commit"
    with pytest.raises(DatabaseError):
        async with committer.transaction():
            pass

