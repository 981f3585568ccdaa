"""A corpus of malformed and hostile files, each with the reason Granary must give for it.

Built in code rather than shipped, so each case says what it is. Used by test_ingest_corpus.py,
also from a subprocess that measures the worker's peak memory.
"""

from __future__ import annotations

import gzip
import io
import json

import pyarrow as pa
import pyarrow.parquet as pq


def _parquet() -> bytes:
    sink = io.BytesIO()
    pq.write_table(pa.table({"a": list(range(1000)), "b": ["x"] * 1000}), sink)
    return sink.getvalue()


def _numbers(rows: int) -> bytes:
    return b"a,b\n" + b"".join(b"%d,%d\n" % (i, i * 7) for i in range(rows))


def _png() -> bytes:
    return b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 64


def corpus() -> dict[str, tuple[bytes, str]]:
    """name -> (the file's bytes, what the reason must contain)."""
    parquet = _parquet()
    return {
        "empty file": (b"", "The file is empty (0 bytes)."),
        "only blank lines": (b"\n\n  \n", "The file holds only blank lines."),
        "NUL bytes in the head": (b"a,b\n1,\x002\n", "a NUL byte at offset 6"),
        "NUL bytes deep in the file": (_numbers(30_000) + b"3,\x00\n", "a NUL byte at offset"),
        "a PNG image named .csv": (_png(), "Found a PNG image"),
        "a ZIP archive": (b"PK\x03\x04" + b"\x00" * 200, "Found a ZIP archive"),
        "an ELF executable": (b"\x7fELF\x02\x01\x01" + b"\x00" * 200, "Found an ELF executable"),
        "UTF-16 text": ("a,b\n1,2\n".encode("utf-16"), "UTF-16 text (save it as UTF-8)"),
        "Latin-1 text in the head": (b"name,city\nZo\xe9,Paris\n", "byte 0xe9 at offset 12 is invalid"),
        "Latin-1 text deep in the file": (_numbers(30_000) + b"3,\xe9\n", "byte 0xe9 at offset"),
        "truncated Parquet": (parquet[: len(parquet) // 2], "no Parquet footer: it is truncated"),
        "Parquet with a lying footer length": (
            parquet[:-8] + (10**8).to_bytes(4, "little") + b"PAR1",
            "smaller than the size reported by footer",
        ),
        "Parquet with a zeroed footer": (
            parquet[:-200] + b"\x00" * 192 + parquet[-8:],
            "The Parquet file cannot be read",
        ),
        "a JSON array": (b'[{"a": 1}, {"a": 2}]', "Found a JSON array"),
        "pretty-printed JSON": (b'{\n  "a": 1\n}\n', "not one object per line"),
        "ragged CSV rows": (b"a,b\n1,2\n3,4,5\n6,7\n", "Line 3 has 3 fields, but the header has 2"),
        "ragged TSV rows": (b"a\tb\n1\t2\n3\n", "Line 3 has 1 fields, but the header has 2"),
        "an unterminated quote": (b'a,b\n1,"x\n2,y\n3,z\n', "is a quote left open?"),
        "a 10,000-column header": (
            (",".join(f"c{i}" for i in range(10_000)) + "\n" + ",".join("1" * 10_000) + "\n").encode(),
            "The file has 10,000 columns; Granary takes at most 2,000",
        ),
        "duplicate column names": (b"a,b,a\n1,2,3\n", "The column name 'a' appears twice (columns 1 and 3)."),
        "an empty column name": (b"a,,c\n1,2,3\n", "Column 2 has no name"),
        "a row larger than the read block": (
            b"a,b\n1," + b"x" * (20 * 1024 * 1024) + b"\n",
            "Line 2 is longer than 1,048,576 bytes (GRANARY_MAX_ROW_BYTES).",
        ),
        "JSON Lines with one broken line": (
            b'{"a": 1}\n{"a": 2}\n{"a": 3\n{"a": 4}\n',
            "Line 3 is not valid JSON: Expecting ',' delimiter",
        ),
        "JSON Lines with mixed types in a column": (
            b'{"a": 1}\n{"a": 2}\n{"a": "x"}\n',
            "Line 3, field 'a': expected an integer (as on line 1), found a string.",
        ),
        "JSON Lines with a line that is no object": (
            b'{"a": 1}\n[1, 2]\n',
            "Line 2 is not a JSON object but a list.",
        ),
        "deeply nested JSON": (b'{"a":' * 100_000 + b"1" + b"}" * 100_000 + b"\n", "nested too deeply"),
        "a gzip bomb": (
            gzip.compress(b"a\n" + b"1\n" * 6_000_000),
            "refused as a possible decompression bomb",
        ),
        "a truncated gzip file": (gzip.compress(_numbers(100_000))[:-3000], "truncated or corrupt"),
        "corrupt gzip data": (b"\x1f\x8b\x08\x00" + b"\xff" * 64, "The gzip data is corrupt"),
        "an empty gzip file": (gzip.compress(b""), "The gzip file holds no data."),
        "gzip-compressed Parquet": (gzip.compress(parquet), "Found gzip-compressed Parquet"),
        "a gzip-compressed PNG": (gzip.compress(_png()), "Found a PNG image"),
        "gzip with NUL bytes": (gzip.compress(_numbers(30_000) + b"\x00\x00"), "of the decompressed text"),
        "JSON Lines, not UTF-8 later on": (
            b"".join(json.dumps({"n": i}).encode() + b"\n" for i in range(20_000)) + b'{"n": "\xff"}\n',
            "is not UTF-8 text",
        ),
    }


# What the memory check ingests (the heavy cases), and the limit it sets for gzip.
HEAVY = [
    "a 10,000-column header",
    "a row larger than the read block",
    "a gzip bomb",
    "deeply nested JSON",
    "NUL bytes deep in the file",
]
DECOMPRESSED_LIMIT = 10_000_000
