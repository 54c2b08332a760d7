"""logfiles.read_lines: whatever the chunk size and however short the reads (pipes, gzip), the lines are
the file's, with invalid UTF-8 replaced wherever it is, in a line carried over from one buffer to the
next too (the arrays are checked as valid UTF-8: to_pylist would hide invalid bytes)."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from greylogd.analysis import logfiles

LINES = st.lists(st.binary(max_size=90).map(lambda b: b.replace(b"\n", b"")), max_size=40)


class Trickle(io.RawIOBase):
    """A stream that returns at most ``most`` bytes a read, as a pipe may."""

    def __init__(self, data: bytes, most: int) -> None:
        self.data, self.most, self.at = data, most, 0

    def readable(self) -> bool:
        return True

    def readinto(self, view: memoryview) -> int:
        count = min(len(view), self.most, len(self.data) - self.at)
        view[:count] = self.data[self.at:self.at + count]
        self.at += count
        return count


def read(data: bytes, chunk: int, most: int) -> list[str]:
    arrays = list(logfiles.read_lines(Trickle(data, most), "x", chunk))
    for array in arrays:
        array.validate(full=True)  # valid UTF-8: to_pylist would hide invalid bytes
    return [line for array in arrays for line in array.to_pylist()]


@settings(max_examples=150, deadline=None)
@given(lines=LINES, last=st.binary(max_size=20).map(lambda b: b.replace(b"\n", b"")),
       chunk=st.integers(1, 300), most=st.integers(1, 400))
def test_lines_are_the_files_whatever_the_sizes(lines: list[bytes], last: bytes, chunk: int,
                                                 most: int) -> None:
    data = b"".join(line + b"\n" for line in lines) + last
    expected = [line.decode("utf-8", "replace") + "\n" for line in lines]
    expected += [last.decode("utf-8", "replace") + "\n"] if last else []
    assert read(data, chunk, most) == expected


@pytest.mark.parametrize("at", [0, 5, 63, 64, 65, 100, 130])
def test_invalid_utf8_anywhere_is_replaced(at: int) -> None:
    text = bytearray(b"a" * 40 + b"\n" + b"b" * 90 + b"\n")
    text[at] = 0xFF
    got = read(bytes(text), 1 << 10, 1 << 10)
    assert "".join(got) == bytes(text).decode("utf-8", "replace")
    assert got[0 if at < 41 else 1].count("\ufffd") == 1


def test_gzip_input_reads_the_same(tmp_path: Path) -> None:
    data = b"".join(b"line %d \xc3\xa9\n" % k for k in range(5000))
    (tmp_path / "x.gz").write_bytes(gzip.compress(data))
    stream, _ = logfiles.open_input(str(tmp_path / "x.gz"))
    got = [line for array in logfiles.read_lines(stream, "x", 4096) for line in array.to_pylist()]
    assert got == [f"line {k} \u00e9\n" for k in range(5000)]


@pytest.mark.parametrize("bad", [10, 65_000, 66_600])
def test_a_line_longer_than_the_buffer_keeps_its_odd_bytes(bad: int) -> None:
    """The chunk's buffer (chunk + 64 KiB) ends inside the first line: it is carried over to the next
    buffer, and its invalid byte (before or after the first buffer's end) is still replaced."""
    line = bytearray(b"a" * 67_000 + b"\n")
    line[bad] = 0xFF
    got = read(bytes(line) + b"z\n", 1000, 1 << 20)
    assert got == [bytes(line).decode("utf-8", "replace"), "z\n"]
    assert got[0].index("\ufffd") == bad
