"""Process-level helpers of bulk jobs: giving freed memory back to the system."""

from __future__ import annotations

import subprocess
import sys

import pytest

from matching.parallel import _malloc_trim

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
