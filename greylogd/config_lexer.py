"""Tokens of greyd.conf, cut exactly where greyd's lexer (src/config_lexer.c, commit f04f414) cuts them.

Contract: `Lexer(text, file).next()` returns one `Token` per call and never raises. Positions are 1-based
line and column (in characters) of the token's first character. Where greyd's lexer silently changes what
the admin wrote (an integer wrapped to 32 bits, a string cut at 257 bytes, a string running to the end of
the file) a `ConfigWarning` is appended to `Lexer.warnings`, because the daemon logs them instead of
guessing quietly like greyd does.

greyd quirks reproduced on purpose (spec/greyd-compat.md 3.1):
- `;` and newline are both end-of-line; `#` comments end before the newline.
- Names are ASCII letter + letters/digits/underscore, lower-cased; `section`, `include`, `blacklist`,
  `whitelist` are reserved.
- Integers are ASCII digits only, no sign, wrapping like C's 32-bit `int` (4294967297 -> 1).
- Strings use double quotes only; a backslash makes the next character literal (no C escapes).
- Any other character outside a string (`-`, `.`, `%`, `'`, `/`, non-ASCII ...) is an end-of-file token
  carrying the character in `Token.stray`: greyd stops parsing there and still reports success.
- Names and strings hold at most 257 bytes (LEXER_MAX_STR_LEN is 256, but the C loop tests the length
  before appending, so one more byte fits); the rest of an over-long one is lexed as new tokens.
"""

from __future__ import annotations

import bisect
import enum
import re
from dataclasses import dataclass

#: Longest name or string greyd keeps, in bytes (UTF-8), see the module docstring.
GREYD_MAX_TOKEN_BYTES = 257
_INT_RE = re.compile(r"[0-9]+")
_NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_RESERVED = {"section", "include", "blacklist", "whitelist"}


class Kind(enum.Enum):
    """Token kinds of greyd's config lexer; the value is how error messages name them."""

    EOF = "end of file"
    EOL = "end of line"
    INT = "integer"
    STR = "string"
    NAME = "name"
    SECTION = "'section'"
    BLACKLIST = "'blacklist'"
    WHITELIST = "'whitelist'"
    INCLUDE = "'include'"
    EQ = "'='"
    COMMA = "','"
    LBRACE = "'{'"
    RBRACE = "'}'"
    LBRACKET = "'['"
    RBRACKET = "']'"


_PUNCT = {";": Kind.EOL, "\n": Kind.EOL, ",": Kind.COMMA, "=": Kind.EQ, "{": Kind.LBRACE,
          "}": Kind.RBRACE, "[": Kind.LBRACKET, "]": Kind.RBRACKET}


@dataclass(frozen=True)
class ConfigWarning:
    """Something greyd accepts silently but an admin should know; rendered like a ConfigError."""

    message: str
    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}: {self.message}"


@dataclass(frozen=True)
class Token:
    """One token; `value` is the int, the unescaped string or the lower-cased name, else None."""

    kind: Kind
    value: int | str | None
    line: int
    col: int
    stray: str = ""

    def describe(self) -> str:
        """How error messages name this token, e.g. `name 'port'` or `character '-'`."""
        if self.stray:
            return f"character {self.stray!r}"
        if self.kind in (Kind.INT, Kind.STR, Kind.NAME):
            return f"{self.kind.value} {self.value!r}"
        return self.kind.value


def wrap_int32(value: int) -> int:
    """What C's signed 32-bit `int` holds after greyd's unchecked `i * 10 + digit` accumulation."""
    return (value + 2**31) % 2**32 - 2**31


class Lexer:
    """greyd's config lexer over an already decoded text; `next()` after the end keeps returning EOF."""

    def __init__(self, text: str, file: str) -> None:
        self.text, self.file, self.pos = text, file, 0
        self.warnings: list[ConfigWarning] = []
        self.cut = False  # True once a name or string was longer than greyd keeps
        self._newlines = [m.start() for m in re.finditer("\n", text)]

    def where(self, pos: int) -> tuple[int, int]:
        """1-based (line, column) of character offset `pos`."""
        line = bisect.bisect_left(self._newlines, pos)
        start = self._newlines[line - 1] + 1 if line else 0
        return line + 1, pos - start + 1

    def warn(self, pos: int, message: str) -> None:
        """Record a warning located at character offset `pos`."""
        self.warnings.append(ConfigWarning(message, self.file, *self.where(pos)))

    def next(self) -> Token:
        """The next token; whitespace and comments are skipped, unknown characters end the input."""
        text = self.text
        while self.pos < len(text):
            char = text[self.pos]
            if char in " \t\r":
                self.pos += 1
            elif char == "#":
                end = text.find("\n", self.pos)
                self.pos = len(text) if end < 0 else end
            elif char in _PUNCT:
                self.pos += 1
                return Token(_PUNCT[char], None, *self.where(self.pos - 1))
            elif char == '"':
                return self._string()
            elif "0" <= char <= "9":
                return self._int()
            elif char.isascii() and char.isalpha():
                return self._name()
            else:
                return Token(Kind.EOF, None, *self.where(self.pos), stray=char)
        return Token(Kind.EOF, None, *self.where(self.pos))

    def _int(self) -> Token:
        start = self.pos
        match = _INT_RE.match(self.text, start)
        assert match is not None  # next() saw a digit here
        self.pos, digits = match.end(), match.group()
        # 10**32 is a multiple of 2**32, so the last 32 digits decide the wrapped value (and Python refuses
        # to convert more than 4300 digits at once).
        value = wrap_int32(int(digits[-32:]))
        significant = digits.lstrip("0") or "0"
        if len(significant) > 10 or int(significant) != value:
            shown = digits if len(digits) <= 40 else f"{digits[:20]}...({len(digits)} digits)"
            self.warn(start, f"integer {shown} does not fit greyd's 32-bit int; greyd reads {value}")
        return Token(Kind.INT, value, *self.where(start))

    def _name(self) -> Token:
        start = self.pos
        match = _NAME_RE.match(self.text, start)
        assert match is not None  # next() saw an ASCII letter here
        name = match.group()[:GREYD_MAX_TOKEN_BYTES]
        self.pos = start + len(name)
        if len(name) < len(match.group()):
            self._note_cut(self.pos, "name")
        name = name.lower()
        kind = Kind[name.upper()] if name in _RESERVED else Kind.NAME
        return Token(kind, name, *self.where(start))

    def _string(self) -> Token:
        start, text, chars, size, escaped = self.pos, self.text, [], 0, False
        self.pos += 1
        while True:
            if self.pos >= len(text):
                self.warn(start, "string is not closed: greyd reads it to the end of the file")
                break
            char = text[self.pos]
            if char == '"' and not escaped:
                self.pos += 1
                break
            if size >= GREYD_MAX_TOKEN_BYTES:
                self._note_cut(self.pos, "string")
                break
            self.pos += 1
            if char == "\\" and not escaped:
                escaped = True
                continue
            chars.append(char)
            size += len(char.encode("utf-8", "surrogatepass"))
            escaped = False
        return Token(Kind.STR, "".join(chars), *self.where(start))

    def _note_cut(self, pos: int, what: str) -> None:
        self.cut = True
        self.warn(pos, f"{what} longer than {GREYD_MAX_TOKEN_BYTES} bytes: greyd cuts it here and reads "
                       "the rest as configuration text")
