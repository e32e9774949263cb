"""Group commit: many write transactions, one physical commit (one fsync).

Every `Database.transaction()` of an engine runs on one writer connection, in turn. The
logical transactions are run inside one physical transaction that stays open while others
are queued behind it, each after the first in a savepoint; the last of a run commits for
all of them. A logical
transaction's `async with` block exits only once the physical commit is durable, so a
caller that answers after its transaction still answers only after the data is safe;
if that commit fails, every member of the batch gets the error.

A logical transaction that fails rolls back to its savepoint and leaves the rest of the
batch alone; the first of a batch has none to keep, so it rolls the physical transaction
back. (A savepoint is not free: SQLite copies every page changed under it to a journal,
a file once past 64 KiB, and PostgreSQL starts a subtransaction.) Reads inside a transaction see the batch's earlier, not yet committed
writes, which is harmless: they commit together or not at all, in that order. Reads
outside transactions (other connections) see only committed data, as before.

A batch is committed when nobody is waiting for the writer, or when it has reached
MAX_BATCH transactions or MAX_BATCH_SECONDS of age, so a steady stream of writers cannot
hold back the first ones' answers indefinitely.

Closing drains: `close()` waits for the transactions already under way (and their commit)
to end and refuses new ones, so the engine never closes its writer connection in the
middle of a statement.
"""

from __future__ import annotations

import abc
import asyncio
from collections.abc import Awaitable
from types import TracebackType
from typing import Generic, TypeVar

from veche.storage.database import DatabaseError, Transaction

MAX_BATCH = 200
MAX_BATCH_SECONDS = 0.02
# How long closing waits for the transactions under way before giving up on them.
CLOSE_DRAIN_SECONDS = 10.0

T = TypeVar("T")
TxnT = TypeVar("TxnT", bound=Transaction)


class WriterConnection(abc.ABC, Generic[TxnT]):
    """What group commit needs from an engine's writer connection."""

    @abc.abstractmethod
    async def begin(self) -> None:
        """Start the physical transaction."""

    @abc.abstractmethod
    async def savepoint(self) -> None:
        """Start a logical transaction (a savepoint named by the engine)."""

    @abc.abstractmethod
    async def release(self) -> None:
        """Keep the logical transaction's work."""

    async def release_and_commit(self) -> None:
        """`release` then `commit`; an engine may do both in one round trip."""
        await self.release()
        await self.commit()

    @abc.abstractmethod
    async def rollback_to_savepoint(self) -> bool:
        """Undo the logical transaction's work; False when the whole physical transaction
        is gone (the engine aborted it), so the batch's earlier work is lost too."""

    @abc.abstractmethod
    async def commit(self) -> None: ...

    @abc.abstractmethod
    async def rollback(self) -> None:
        """Abandon the physical transaction, if one is open."""

    @abc.abstractmethod
    def transaction(self) -> TxnT:
        """The statements interface for the current logical transaction."""


async def _complete(operation: Awaitable[T]) -> T:
    """Run a connection-state operation to its end even if the caller is cancelled, so the
    connection is never left half way (e.g. with a savepoint nobody will release)."""
    task = asyncio.ensure_future(operation)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        if not task.done():
            try:
                await task
            except Exception:
                pass
        raise


class _Batch:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.committed: asyncio.Future[None] = loop.create_future()
        self.started = loop.time()
        self.size = 0
        self.failed: BaseException | None = None


class GroupCommitter(Generic[TxnT]):
    def __init__(self, writer: WriterConnection[TxnT]) -> None:
        self._writer = writer
        self._lock = asyncio.Lock()
        self._waiting = 0
        self._batch: _Batch | None = None
        self._committing: asyncio.Task[None] | None = None
        self._closing = False

    def transaction(self) -> _LogicalTransaction[TxnT]:
        return _LogicalTransaction(self)

    async def close(self) -> bool:
        """Refuse new transactions and wait for those under way to commit or roll back;
        False when they did not end within CLOSE_DRAIN_SECONDS. The writer stays held."""
        self._closing = True
        try:
            await asyncio.wait_for(self._lock.acquire(), CLOSE_DRAIN_SECONDS)
        except TimeoutError:
            return False
        if self._batch is not None:
            # Members whose would-be successor gave up waiting: nobody else will commit them.
            await self._commit_holding_lock(self._batch)
        return True

    async def _enter(self) -> tuple[_Batch, bool, TxnT]:
        """Join (or start) the physical transaction: the batch, whether this is its first
        member (which takes no savepoint), and the statements interface."""
        if self._closing:
            raise DatabaseError("the database is closing")
        self._waiting += 1
        try:
            await self._lock.acquire()
        finally:
            self._waiting -= 1
        try:
            if self._batch is None:
                await _complete(self._writer.begin())
                batch = self._batch = _Batch(asyncio.get_running_loop())
                first = True
            else:
                await _complete(self._writer.savepoint())
                batch, first = self._batch, False
            batch.size += 1
        except BaseException as e:
            await self._finish_after_failure(e)
            raise
        return batch, first, self._writer.transaction()

    async def _exit(self, batch: _Batch, first: bool, error: BaseException | None) -> None:
        if error is None and self._batch_is_due(batch):
            # The last of a run (often the only one): its release and the commit are one
            # round trip to the writer, in a task of their own as below.
            self._committing = asyncio.ensure_future(self._commit(batch, release=not first))
            await asyncio.shield(batch.committed)
            return
        try:
            if error is None:
                if not first:
                    await _complete(self._writer.release())
            elif first or not await _complete(self._writer.rollback_to_savepoint()):
                batch.failed = error
        except BaseException as e:
            await self._finish_after_failure(e)
            raise
        if batch.failed is not None:
            await self._finish_after_failure(batch.failed)
        elif self._batch_is_due(batch):
            # The commit and the writer's release belong to no caller: one that is
            # cancelled while waiting must not abandon the rest of the batch.
            self._committing = asyncio.ensure_future(self._commit(batch))
        else:
            self._lock.release()
        if error is None:
            await asyncio.shield(batch.committed)

    def _batch_is_due(self, batch: _Batch) -> bool:
        return self._waiting == 0 or batch.size >= MAX_BATCH or (
            asyncio.get_running_loop().time() - batch.started >= MAX_BATCH_SECONDS
        )

    async def _commit(self, batch: _Batch, *, release: bool = False) -> None:
        """Commit the batch (releasing its last member's savepoint first, with `release`)."""
        try:
            await self._commit_holding_lock(batch, release=release)
        finally:
            self._lock.release()

    async def _commit_holding_lock(self, batch: _Batch, *, release: bool = False) -> None:
        self._batch = None
        try:
            await (self._writer.release_and_commit() if release else self._writer.commit())
        except BaseException as e:
            try:
                await self._writer.rollback()
            finally:
                _settle(batch, e)
            return
        _settle(batch, None)

    async def _finish_after_failure(self, error: BaseException) -> None:
        """The physical transaction is unusable: fail its batch and start afresh."""
        batch, self._batch = self._batch, None
        try:
            await _complete(self._writer.rollback())
        finally:
            if batch is not None:
                _settle(batch, error)
            self._lock.release()


def _settle(batch: _Batch, error: BaseException | None) -> None:
    if batch.committed.done():
        return
    if error is None:
        batch.committed.set_result(None)
    else:
        batch.committed.set_exception(error)
        # Members that failed themselves never look; don't warn about it.
        batch.committed.exception()


class _LogicalTransaction(Generic[TxnT]):
    def __init__(self, committer: GroupCommitter[TxnT]) -> None:
        self._committer = committer
        self._batch: _Batch | None = None
        self._first = False

    async def __aenter__(self) -> TxnT:
        self._batch, self._first, txn = await self._committer._enter()
        return txn

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._batch is not None
        await self._committer._exit(self._batch, self._first, exc)
