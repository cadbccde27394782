"""Helpers of bulk jobs: forked workers that inherit their input; freed memory given back."""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest

from matching.parallel import _malloc_trim, can_fork, fork_map, shared

# Run in a fresh interpreter, so that the test's own heap (and pytest's) does not blur it.
_PROGRAM = """
from pathlib import Path
from matching.parallel import release_free_memory

def resident_mb():
    status = Path("/proc/self/status").read_text()
    return int(status.split("VmRSS:")[1].split()[0]) // 1024

# 400 MB in pieces too large for Python's own allocator and too small for their own mappings,
# then one piece that stays, above them in the heap: freeing the rest leaves them in the heap.
pieces = [bytearray(2000) for _ in range(200_000)]
stays = bytearray(2000)
del pieces
before = resident_mb()
release_free_memory()
print(before, resident_mb())
"""


def test_the_memory_a_chunk_freed_goes_back_to_the_system() -> None:
    if _malloc_trim() is None or not sys.platform.startswith("linux"):
        pytest.skip("needs glibc's malloc_trim and /proc")
    done = subprocess.run(
        [sys.executable, "-c", _PROGRAM], capture_output=True, text=True, check=True
    )
    before, after = map(int, done.stdout.split())
    # Freed but kept by the C library: most of the 400 MB is still resident, until released.
    assert before - after > 300


def test_fork_maps_in_two_threads_each_read_their_own_shared_values() -> None:
    # An API worker process answers requests in threads, and one request's survivorship runs
    # `fork_map` (in the calling thread) while another request's does: each task must read
    # the values its own call handed over, not the other's, and neither may see them cleared.
    first_is_reading = threading.Event()
    second_is_done = threading.Event()
    found: dict[str, object] = {}

    def first_task(_: int) -> object:
        first_is_reading.set()
        second_is_done.wait(5)
        return shared("who")

    def first() -> None:
        found["first"] = fork_map(first_task, [0], workers=1, shared={"who": "first"})

    def second() -> None:
        first_is_reading.wait(5)
        found["second"] = fork_map(
            lambda _: shared("who"), [0], workers=1, shared={"who": "second"}
        )
        second_is_done.set()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert found == {"first": ["first"], "second": ["second"]}


def test_forked_workers_read_the_shared_values_of_the_call_that_forked_them() -> None:
    if not can_fork():
        pytest.skip("needs fork")
    result: list[object] = []

    def call() -> None:
        result.extend(
            fork_map(lambda i: shared("base") + i, [1, 2, 3], workers=2, shared={"base": 10})
        )

    thread = threading.Thread(target=call)  # not the main thread: its own shared values
    thread.start()
    thread.join(60)
    assert result == [11, 12, 13]
