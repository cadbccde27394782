"""Group commit: single-record writes that arrive together are stored in one transaction.

A server answering ``PUT`` of one record at a time pays, per record, for everything a
transaction costs whatever it holds: its statements' round trips, the match's set-up, the
golden records' recomputation, the outbox write and the commit's wait for the disk. Under
load those requests queue for the same core anyway. A `Coalescer` lets the first of them lead:
it takes every request of the same group (entity type) waiting at that moment, at most one per
key (the same source record twice waits for the next transaction), and runs them as one batch;
the others sleep until their answer is in. Requests that arrive meanwhile queue up, and the
leader hands the next batch to the first of them. Alone, a request runs by itself, at once: it
never waits for company.

The batch function answers every item on its own (an answer, or the error that item alone
would have raised), so coalescing changes what a request costs, never what it answers.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

Item = TypeVar("Item")
Answer = TypeVar("Answer")

# Enough to absorb every request a worker's thread pool holds at once, few enough that one
# transaction's locks and its commit stay short.
MAX_BATCH = 32


@dataclass(eq=False, slots=True)
class _Waiter(Generic[Item, Answer]):
    key: Hashable
    item: Item
    wake: threading.Event = field(default_factory=threading.Event)
    lead: bool = False
    answer: Answer | None = None
    error: BaseException | None = None


RunBatch = Callable[[Hashable, Sequence[Item]], Sequence["Answer | BaseException"]]


class Coalescer(Generic[Item, Answer]):
    """Runs the items that threads submit together through one call of ``run_batch``.

    ``run_batch(group, items)`` returns, in order, each item's answer or the exception to
    raise in the thread that submitted it; an exception it raises itself goes to every item
    of the batch.
    """

    def __init__(self, run_batch: RunBatch[Item, Answer], *, max_batch: int = MAX_BATCH) -> None:
        """Coalesce calls of ``run_batch``, at most ``max_batch`` items per call."""
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self._run_batch = run_batch
        self._max_batch = max_batch
        self._lock = threading.Lock()
        self._queues: dict[Hashable, list[_Waiter[Item, Answer]]] = {}
        self._leading: set[Hashable] = set()

    def submit(self, group: Hashable, key: Hashable, item: Item) -> Answer:
        """Run ``item`` in a batch of its ``group``; its answer, or raise its error."""
        waiter: _Waiter[Item, Answer] = _Waiter(key, item)
        with self._lock:
            self._queues.setdefault(group, []).append(waiter)
            if group not in self._leading:
                # Nobody runs this group's batches: the queue was empty, this one leads.
                self._leading.add(group)
                waiter.lead = True
        if not waiter.lead:
            waiter.wake.wait()  # answered, or handed the lead
        if waiter.lead:
            self._lead(group)
        if waiter.error is not None:
            raise waiter.error
        return waiter.answer  # type: ignore[return-value]  # set when error is None

    def _take(self, group: Hashable) -> list[_Waiter[Item, Answer]]:
        """The next batch, in arrival order: the leader first, one item per key."""
        queue = self._queues[group]
        batch: list[_Waiter[Item, Answer]] = []
        keys: set[Hashable] = set()
        rest: list[_Waiter[Item, Answer]] = []
        for waiter in queue:
            if len(batch) < self._max_batch and waiter.key not in keys:
                keys.add(waiter.key)
                batch.append(waiter)
            else:
                rest.append(waiter)
        self._queues[group] = rest
        return batch

    def _lead(self, group: Hashable) -> None:
        with self._lock:
            batch = self._take(group)
        try:
            answers = self._run_batch(group, [w.item for w in batch])
        except BaseException as exc:  # every item's error; the lead still passes on
            answers = [exc] * len(batch)
        if len(answers) != len(batch):
            answers = [RuntimeError(f"{len(answers)} answers for {len(batch)} items")] * len(batch)
        for waiter, answer in zip(batch, answers, strict=True):
            if isinstance(answer, BaseException):
                waiter.error = answer
            else:
                waiter.answer = answer
        with self._lock:
            queue = self._queues[group]
            if queue:
                queue[0].lead = True
                queue[0].wake.set()
            else:
                self._leading.discard(group)
                del self._queues[group]
        for waiter in batch:
            waiter.wake.set()
