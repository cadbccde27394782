"""The file load's writer thread: chunks in order, the first error raised in the caller."""

from __future__ import annotations

import threading

import pytest

from mdm.ingest.service import Candidate, Rejection, _ChunkWriter


def _chunk(name: str) -> list[Candidate]:
    return [Candidate(name, {"source_id": name}, None)]


def test_chunks_are_written_in_order_in_another_thread() -> None:
    written: list[tuple[str, str]] = []

    def write(chunk: list[Candidate], rejected: list[Rejection]) -> None:
        written.append((chunk[0].source_id, threading.current_thread().name))

    writer = _ChunkWriter(write)
    for name in ("a", "b", "c"):
        writer.submit(_chunk(name), [])
    writer.close()
    assert [name for name, _ in written] == ["a", "b", "c"]
    assert {thread for _, thread in written} == {"ingest-writer"}


def test_a_failed_write_stops_the_writing_and_is_raised_in_the_caller() -> None:
    written: list[str] = []
    c_queued = threading.Event()

    def write(chunk: list[Candidate], rejected: list[Rejection]) -> None:
        name = chunk[0].source_id
        if name == "b":
            c_queued.wait(5)  # fail only once the next chunk waits behind this one
            raise RuntimeError("disk full")
        written.append(name)

    writer = _ChunkWriter(write)
    writer.submit(_chunk("a"), [])
    writer.submit(_chunk("b"), [])
    writer.submit(_chunk("c"), [])  # returns once "b" is being written
    c_queued.set()
    with pytest.raises(RuntimeError, match="disk full"):
        writer.close()
    assert written == ["a"]
    with pytest.raises(RuntimeError, match="disk full"):
        writer.submit(_chunk("d"), [])


def test_stop_drops_a_queued_chunk_and_lets_the_running_one_finish() -> None:
    release = threading.Event()
    running = threading.Event()
    written: list[str] = []

    def write(chunk: list[Candidate], rejected: list[Rejection]) -> None:
        running.set()
        release.wait(5)
        written.append(chunk[0].source_id)

    writer = _ChunkWriter(write)
    writer.submit(_chunk("a"), [])
    running.wait(5)
    writer.submit(_chunk("b"), [])  # queued behind the running one
    stopper = threading.Thread(target=writer.stop)
    stopper.start()
    release.set()
    stopper.join(5)
    assert not stopper.is_alive()
    assert written == ["a"]
