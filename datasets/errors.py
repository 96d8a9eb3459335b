"""The one error type every reader raises on bad input: it names the file, the line and the reason."""

from __future__ import annotations

from pathlib import Path


class DatasetFormatError(ValueError):
    """A raw file that does not follow its dataset's format.

    ``line`` is 1-based, or ``None`` where the problem has no single line (an empty file, a JSON
    structure); ``reason`` says what was expected and what was found.
    """

    def __init__(self, path: str | Path, line: int | None, reason: str) -> None:
        self.path = str(path)
        self.line = line
        self.reason = reason
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {reason}")

    def __reduce__(self):  # keep all three fields across process boundaries (worker pools)
        return (type(self), (self.path, self.line, self.reason))

    def as_record(self) -> dict[str, object]:
        """The JSON form listed in a manifest's ``quarantined`` entries."""
        return {"file": self.path, "line": self.line, "reason": self.reason}


def read_utf8_lines(path: str | Path) -> list[str]:
    """The lines of a text file (LF or CRLF), or a DatasetFormatError for empty or non-UTF-8 files."""
    return read_utf8(path)[1]


def read_utf8(path: str | Path) -> tuple[bytes, list[str]]:
    """The raw bytes and the lines of a UTF-8 text file, LF or CRLF (the CR is dropped); a leading
    byte-order mark (Windows editors write one) is not part of the first line."""
    raw = Path(path).read_bytes()
    try:
        text = raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        bad = raw[e.start : e.start + 1]
        raise DatasetFormatError(path, line, f"not UTF-8 text (byte {e.start}: {bad!r})") from None
    if not text.strip():
        raise DatasetFormatError(path, None, "empty file")
    # split on "\n" only (str.splitlines would also split on \f, \x1c, ... and shift line numbers)
    lines = text.split("\n")
    if "\r" in text:
        lines = [line.removesuffix("\r") for line in lines]
    return raw, lines
