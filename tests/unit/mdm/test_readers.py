"""Reading a file in blocks for worker processes gives exactly the rows a plain read gives."""

from __future__ import annotations

import io

from hypothesis import given, settings
from hypothesis import strategies as st

from mdm.ingest.readers import SourceRow, parse_block, read_blocks, read_csv, read_jsonl


def _by_blocks(data: bytes, fmt: str, delimiter: str, lines_per_block: int) -> list[SourceRow]:
    return [
        row
        for block in read_blocks(io.BytesIO(data), fmt, delimiter, "utf-8", lines_per_block)
        for row in parse_block(block, delimiter, "utf-8")
    ]


def _plain(data: bytes, fmt: str, delimiter: str) -> list[SourceRow]:
    handle = io.BytesIO(data)
    return list(read_jsonl(handle) if fmt == "jsonl" else read_csv(handle, delimiter))


def test_a_quoted_field_over_two_lines_stays_in_one_block() -> None:
    data = b'id;note\n1;"first\nsecond"\n2;plain\n3;"a ""quoted""\nword"\n'
    blocks = list(read_blocks(io.BytesIO(data), "csv", ";", lines_per_block=1))
    assert [(b.first_line, len(b.lines)) for b in blocks] == [(2, 2), (4, 1), (5, 2)]
    rows = _by_blocks(data, "csv", ";", 1)
    assert [(r.position, r.data) for r in rows] == [
        (2, {"id": "1", "note": "first\nsecond"}),
        (4, {"id": "2", "note": "plain"}),
        (5, {"id": "3", "note": 'a "quoted"\nword'}),
    ]


def test_the_header_is_decoded_in_the_files_encoding_and_a_bom_dropped() -> None:
    data = "\ufeffStraße;Größe\nHauptstraße 1;XL\n".encode()
    (block,) = read_blocks(io.BytesIO(data), "csv", ";")
    assert block.header == ["Straße", "Größe"]
    assert parse_block(block, ";")[0].data == {"Straße": "Hauptstraße 1", "Größe": "XL"}


def test_a_latin1_line_is_parsed_in_the_worker_with_its_warning() -> None:
    data = b"id,name\n1,M\xfcller\n"
    rows = _by_blocks(data, "csv", ",", 1000)
    assert rows[0].data == {"id": "1", "name": "Müller"}
    assert rows[0].warnings == ["line 2 decoded as cp1252"]


def test_a_bad_record_before_the_header_is_reported_and_the_next_record_is_the_header() -> None:
    data = b"a\rb,c\nid,name\n1,Acme\n"
    assert [(r.position, r.data, r.error) for r in _by_blocks(data, "csv", ",", 1000)] == [
        (r.position, r.data, r.error) for r in _plain(data, "csv", ",")
    ]
    rows = _by_blocks(data, "csv", ",", 1000)
    assert rows[0].error is not None
    assert "malformed CSV" in rows[0].error
    assert rows[1].data == {"id": "1", "name": "Acme"}


def test_json_lines_blocks_number_lines_across_blocks() -> None:
    data = b'{"id": 1}\n\n{oops\n{"id": 2}\n'
    rows = _by_blocks(data, "jsonl", ",", 2)
    assert [(r.position, r.data, r.error is None) for r in rows] == [
        (1, {"id": 1}, True),
        (3, None, False),
        (4, {"id": 2}, True),
    ]


# Text made of the characters that matter to CSV: quotes, delimiters, line breaks, NUL.
_csv_text = st.lists(
    st.sampled_from(['"', ",", ";", "\n", "\r\n", "\r", "a", "b", " ", "ü", "\x00", '""']),
    max_size=60,
).map("".join)


@settings(max_examples=400, deadline=None)
@given(
    header=st.sampled_from(["id,name\n", "id;name\n", '"id","na\nme"\n', "\n", ""]),
    body=_csv_text,
    delimiter=st.sampled_from([",", ";"]),
    lines_per_block=st.integers(min_value=1, max_value=4),
)
def test_blocks_read_any_csv_like_plain_reading(
    header: str, body: str, delimiter: str, lines_per_block: int
) -> None:
    data = (header + body).encode()
    got = _by_blocks(data, "csv", delimiter, lines_per_block)
    want = _plain(data, "csv", delimiter)
    assert [(r.position, r.data, r.raw, r.error, r.warnings) for r in got] == [
        (r.position, r.data, r.raw, r.error, r.warnings) for r in want
    ]


@settings(max_examples=200, deadline=None)
@given(
    lines=st.lists(
        st.sampled_from(['{"a": 1}', "", "  ", "{bad", "[1]", '{"b": "\\u00fc"}', "\ufeff{}"]),
        max_size=12,
    ),
    lines_per_block=st.integers(min_value=1, max_value=4),
)
def test_blocks_read_any_json_lines_like_plain_reading(
    lines: list[str], lines_per_block: int
) -> None:
    data = "\n".join(lines).encode()
    got = _by_blocks(data, "jsonl", ",", lines_per_block)
    want = _plain(data, "jsonl", ",")
    assert [(r.position, r.data, r.raw, r.error) for r in got] == [
        (r.position, r.data, r.raw, r.error) for r in want
    ]
