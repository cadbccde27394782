"""A bulk match run collects cyclic garbage once per chunk, not while a chunk is worked on."""

from __future__ import annotations

import gc
import weakref

from mdm.linkage.service import _settle_garbage, fewer_collections


class _Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the cyclic collector frees it


def test_a_chunk_runs_without_automatic_collections_and_its_cycles_go_at_the_next() -> None:
    assert gc.isenabled()
    with fewer_collections():
        assert not gc.isenabled()
        node = _Node()
        alive = weakref.ref(node)
        del node
        for _ in range(200_000):  # allocations that would trigger collections
            [].append(0)
        assert alive() is not None  # no collection ran in between
        _settle_garbage()
        assert alive() is None
    assert gc.isenabled()
