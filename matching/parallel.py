"""Pure-Python stages on several cores: forked worker processes that inherit their input.

Standardising and computing blocking keys are Python loops over distinct values, so threads
would take turns on the interpreter lock. Forked workers inherit the (large) input frame
from the parent's memory instead of receiving a pickled copy, and send back only their
(compact) results. Where the platform cannot fork, everything runs in the calling process.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import multiprocessing
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from functools import cache
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")

_FORK = (
    multiprocessing.get_context("fork")
    if "fork" in multiprocessing.get_all_start_methods()
    else None
)
# What a call's tasks read, per thread: an API process answers requests in threads, and two
# requests' calls must not see (or clear) each other's values. Set for the call, restored
# after; a forked worker is handed its caller's values as it starts (`_adopt`).
_CALL = threading.local()


@cache
def _malloc_trim() -> Callable[[int], int] | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim: Callable[[int], int] = libc.malloc_trim
    except (OSError, AttributeError):  # not glibc (macOS, musl)
        return None
    return trim


def release_free_memory() -> None:
    """Give the heap's free memory back to the system, where the C library allows (glibc).

    A bulk job frees most of what a chunk allocated before the next chunk, but glibc keeps
    freed memory in its heaps for reuse, scattered among live allocations: the process grows
    chunk after chunk, and the workers it forks share, and copy, a larger heap.
    ``malloc_trim`` returns the free pages (40 ms on a heap of 1.2 GB).
    """
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


def can_fork() -> bool:
    """Whether work can be spread over forked processes on this platform."""
    return _FORK is not None


def shared(name: str) -> Any:
    """A value handed to :func:`fork_map`'s ``shared``, read inside a task.

    >>> fork_map(lambda i: shared("base") + i, [1, 2], workers=1, shared={"base": 10})
    [11, 12]
    """
    values: dict[str, Any] = getattr(_CALL, "shared", None) or {}
    return values[name]


def _adopt(values: dict[str, Any]) -> None:
    # A forked worker's initialiser: fork inherits the values, nothing is pickled.
    _CALL.shared = values


def _run_shared(indexes: Sequence[int]) -> list[Any]:
    # Inside a forked worker: the function and the items were inherited, only indexes came.
    fn, items = shared("__fn__"), shared("__items__")
    return [fn(items[i]) for i in indexes]


def fork_map(
    fn: Callable[[T], R], items: Sequence[T], *, workers: int, shared: Mapping[str, Any]
) -> list[R]:
    """``[fn(item) for item in items]``, spread over ``workers`` processes; order is kept.

    Items are dealt round-robin into one group per worker. The calling process runs the first
    group itself while forked workers run the others, so ``workers=2`` forks one process.
    ``fn`` and the items are inherited by the workers, not pickled (a lambda will do); ``fn``
    reads large inputs through :func:`shared`; only the results travel back.

    >>> fork_map(lambda i: shared("base") * i, [1, 2, 3], workers=2, shared={"base": 10})
    [10, 20, 30]
    """
    workers = max(1, min(workers, len(items)))
    values = {**shared, "__fn__": fn, "__items__": items}
    outer = getattr(_CALL, "shared", None)
    _CALL.shared = values
    try:
        if workers == 1 or _FORK is None:
            return [fn(item) for item in items]
        groups = [list(range(w, len(items), workers)) for w in range(workers)]
        results: list[Any] = [None] * len(items)
        # Frozen objects are never collected in the workers: an inherited object's finaliser
        # (a database connection's, say) must not run in a copy of the caller.
        gc.freeze()
        try:
            with ProcessPoolExecutor(
                workers - 1, mp_context=_FORK, initializer=_adopt, initargs=(values,)
            ) as pool:
                futures = [pool.submit(_run_shared, group) for group in groups[1:]]
                done = [(groups[0], _run_shared(groups[0]))]
                done.extend(
                    (group, f.result()) for group, f in zip(groups[1:], futures, strict=True)
                )
        finally:
            gc.unfreeze()
        for group, found in done:
            for i, result in zip(group, found, strict=True):
                results[i] = result
        return results
    finally:
        _CALL.shared = outer
