"""Group commit (`mdm.api.coalesce.Coalescer`): batches, keys, errors, and the lead passed on."""

from __future__ import annotations

import threading
from collections.abc import Hashable, Sequence

import pytest

from mdm.api.coalesce import Coalescer


class Recorder:
    """A batch function that records its batches and can hold the first one until released."""

    def __init__(self, *, hold_first: bool = False) -> None:
        self.batches: list[list[str]] = []
        self.started = threading.Event()
        self.release = threading.Event()
        if not hold_first:
            self.release.set()

    def __call__(self, group: Hashable, items: Sequence[str]) -> list[str | BaseException]:
        self.batches.append(list(items))
        self.started.set()
        self.release.wait(5)
        return [ValueError(item) if item.startswith("bad") else f"{group}:{item}" for item in items]


def _run_while_the_first_is_held(
    coalescer: Coalescer[str, str], recorder: Recorder, calls: list[tuple[str, str]]
) -> dict[str, object]:
    """Submit the first call, then the others one by one while its batch runs; the answers."""
    answers: dict[str, object] = {}

    def call(key: str, item: str) -> None:
        try:
            answers[item] = coalescer.submit("customer", key, item)
        except ValueError as exc:
            answers[item] = exc

    first, *rest = [threading.Thread(target=call, args=pair) for pair in calls]
    first.start()
    assert recorder.started.wait(5)
    for n, thread in enumerate(rest, start=1):  # in order: each queued before the next starts
        thread.start()
        _queued(coalescer, n)
    recorder.release.set()
    for thread in (first, *rest):
        thread.join(5)
    return answers


def _queued(coalescer: Coalescer[str, str], n: int) -> None:
    """Wait until ``n`` items wait for the running batch to end."""
    for _ in range(500):
        with coalescer._lock:
            if len(coalescer._queues.get("customer", [])) >= n:
                return
        threading.Event().wait(0.01)
    raise AssertionError(f"{n} items never queued")


def test_a_request_alone_runs_at_once_in_a_batch_of_one() -> None:
    recorder = Recorder()
    coalescer: Coalescer[str, str] = Coalescer(recorder)
    assert coalescer.submit("customer", "k1", "a") == "customer:a"
    assert coalescer.submit("customer", "k2", "b") == "customer:b"
    assert recorder.batches == [["a"], ["b"]]


def test_requests_arriving_during_a_batch_run_together_one_per_key() -> None:
    recorder = Recorder(hold_first=True)
    coalescer: Coalescer[str, str] = Coalescer(recorder)
    answers = _run_while_the_first_is_held(
        coalescer, recorder, [("k1", "a"), ("k2", "b"), ("k3", "c"), ("k2", "b again"), ("k4", "d")]
    )
    # The first alone; then everything that queued meanwhile, but the same key only once.
    assert recorder.batches == [["a"], ["b", "c", "d"], ["b again"]]
    assert answers == {item: f"customer:{item}" for item in ("a", "b", "c", "b again", "d")}


def test_an_item_s_error_is_raised_only_in_its_own_thread() -> None:
    recorder = Recorder(hold_first=True)
    coalescer: Coalescer[str, str] = Coalescer(recorder)
    answers = _run_while_the_first_is_held(
        coalescer, recorder, [("k1", "a"), ("k2", "bad b"), ("k3", "c")]
    )
    assert recorder.batches == [["a"], ["bad b", "c"]]
    assert isinstance(answers["bad b"], ValueError)
    assert answers["c"] == "customer:c"


def test_a_failing_batch_fails_its_items_and_the_next_batch_still_runs() -> None:
    calls: list[list[str]] = []

    def explode(group: Hashable, items: Sequence[str]) -> list[str | BaseException]:
        calls.append(list(items))
        if len(calls) == 1:
            raise RuntimeError("the database went away")
        return [str(item) for item in items]

    coalescer: Coalescer[str, str] = Coalescer(explode)
    with pytest.raises(RuntimeError, match="went away"):
        coalescer.submit("customer", "k1", "a")
    assert coalescer.submit("customer", "k1", "a") == "a"
    # A batch function that answers too few items fails them all, with a clear error.
    short: Coalescer[str, str] = Coalescer(lambda group, items: [])
    with pytest.raises(RuntimeError, match="0 answers for 1 items"):
        short.submit("customer", "k1", "a")


def test_batches_hold_at_most_max_batch_items() -> None:
    recorder = Recorder(hold_first=True)
    coalescer: Coalescer[str, str] = Coalescer(recorder, max_batch=2)
    answers = _run_while_the_first_is_held(
        coalescer, recorder, [("k1", "a"), ("k2", "b"), ("k3", "c"), ("k4", "d")]
    )
    assert recorder.batches == [["a"], ["b", "c"], ["d"]]
    assert len(answers) == 4
    with pytest.raises(ValueError, match="at least 1"):
        Coalescer(recorder, max_batch=0)
