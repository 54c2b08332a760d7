"""greyd.conf grammar: a line-by-line port of greyd's recursive descent parser (src/config_parser.c).

Contract: `Parser(lexer, tables).run()` adds what greyd would keep to `tables` (mutating it, because includes
share one set of tables like greyd's single Config_T), collects `include` patterns in `Parser.includes`, and
either returns or raises ConfigError(message, file, line, col) naming the offending token. Positions are
1-based (greyd prints a 0-based line and the column after the token).

The parse fails exactly when greyd's fails: when parsing stops on anything but an end-of-file token. When it
stops on a stray character (`-`, `.`, `%`, `'` ...) or at the real end in the middle of a statement, greyd
succeeds silently and keeps what it stored so far; we do the same and add a ConfigWarning saying what is lost.
Grammar (spec/greyd-compat.md 3.2), no backtracking, tokens consumed by a failed rule stay consumed:
  file       := EOL* [ statement ( EOL+ statement )* ] EOL* EOF
  statement  := assignment | section | include
  assignment := NAME '=' ( INT | STRING | list )
  list       := '[' EOL? value ( ',' EOL? value )* ','? EOL? ']'
  section    := ( 'section' | 'blacklist' | 'whitelist' ) NAME EOL? '{' EOL? assignment
                ( ','? EOL+ assignment )* ','? EOL? '}'
  include    := 'include' STRING
"""

from __future__ import annotations

from dataclasses import dataclass, field

from greylogd.config_lexer import GREYD_MAX_TOKEN_BYTES, ConfigWarning, Kind, Lexer, Token
from greylogd.errors import ConfigError

#: A stored value: lists are tuples here so that parsed tables cannot be changed by their readers.
RawValue = int | str | tuple[int | str, ...]


@dataclass(frozen=True)
class Entry:
    """One `key = value` as stored, with where its name stands (1-based line and column)."""

    value: RawValue
    file: str
    line: int
    col: int


@dataclass
class Section:
    """A `section`/`blacklist`/`whitelist` block; `default` holds the top-level keys."""

    name: str
    kind: str
    file: str
    line: int
    entries: dict[str, Entry] = field(default_factory=dict)


@dataclass
class Tables:
    """greyd's three separate namespaces; a later block of the same name replaces the earlier one whole."""

    sections: dict[str, Section] = field(default_factory=dict)
    blacklists: dict[str, Section] = field(default_factory=dict)
    whitelists: dict[str, Section] = field(default_factory=dict)

    def namespace(self, kind: Kind) -> dict[str, Section]:
        """The table a block keyword stores into."""
        return {Kind.SECTION: self.sections, Kind.BLACKLIST: self.blacklists}.get(kind, self.whitelists)


class Parser:
    """One file's parse into shared `Tables`; see the module docstring for the contract."""

    def __init__(self, lexer: Lexer, tables: Tables) -> None:
        self.lexer, self.tables = lexer, tables
        self.includes: list[Token] = []
        self.curr = Token(Kind.EOF, None, 1, 1)
        self._expected: list[Kind] = []
        self._hint: tuple[Token, list[Kind]] | None = None  # what the failing rule wanted, for messages
        self._section: Section | None = None
        self._pending = ""  # the statement in progress, named in warnings when greyd drops it

    def run(self) -> None:
        """Parse the whole text: returns normally where greyd succeeds, raises ConfigError where it fails."""
        self.tables.sections.setdefault("default", Section("default", "section", self.lexer.file, 0))
        self._advance()
        self._accept(Kind.EOL)
        if self._statement():
            while self._accept(Kind.EOL) and self._statement():
                pass
        if self.curr.kind is not Kind.EOF:
            raise self._error()
        self._note_stop()

    def _advance(self) -> None:
        self.curr = self.lexer.next()
        self._expected = []

    def _at(self, kind: Kind) -> bool:
        if self.curr.kind is kind:
            return True
        self._expected.append(kind)
        return False

    def _accept(self, kind: Kind) -> bool:
        """greyd's accept(): consume the token if it matches; one EOL swallows all that follow."""
        if not self._at(kind):
            return False
        self._advance()
        while kind is Kind.EOL and self.curr.kind is Kind.EOL:
            self._advance()
        return True

    def _statement(self) -> bool:
        """greyd tries every alternative even after one failed half-way (`x section s {...}` parses)."""
        first, dropped = self.curr, ""
        for rule in (self._assignment, self._section_block, self._include):
            start = self.curr
            if rule():
                if dropped:
                    self._warn(first, f"greyd silently ignores the unfinished {dropped}")
                return True
            if self.curr is not start:
                dropped = dropped or self._pending
                self._hint = self._hint or (self.curr, list(self._expected))
        return False

    def _assignment(self) -> bool:
        if not self._at(Kind.NAME):
            return False
        name = self.curr
        self._pending = f"assignment to {name.value!r}"
        self._advance()
        if not self._accept(Kind.EQ):
            return False
        if self._at(Kind.INT) or self._at(Kind.STR):
            value: RawValue | None = self.curr.value
            self._advance()
        else:
            value = self._list()
        if value is None:
            return False
        target = self._section or self.tables.sections["default"]
        target.entries[str(name.value)] = Entry(value, self.lexer.file, name.line, name.col)
        self._pending = ""
        return True

    def _list(self) -> tuple[int | str, ...] | None:
        if not self._accept(Kind.LBRACKET):
            return None
        self._accept(Kind.EOL)
        items: list[int | str] = []
        if not self._list_value(items):
            return None
        while self._accept(Kind.COMMA):
            self._accept(Kind.EOL)
            if not self._list_value(items):
                break
        self._accept(Kind.EOL)
        return tuple(items) if self._accept(Kind.RBRACKET) else None

    def _list_value(self, items: list[int | str]) -> bool:
        if not (self._at(Kind.INT) or self._at(Kind.STR)):
            return False
        assert isinstance(self.curr.value, int | str)
        items.append(self.curr.value)
        self._advance()
        return True

    def _section_block(self) -> bool:
        return self._section_open() and self._section_body()

    def _section_open(self) -> bool:
        """Keyword, name, `{`; the new block replaces any earlier one of that name right here, as in greyd."""
        keyword = self.curr.kind
        if not (self._at(Kind.SECTION) or self._at(Kind.BLACKLIST) or self._at(Kind.WHITELIST)):
            return False
        self._pending = f"{keyword.value[1:-1]} header"
        self._advance()
        if not self._at(Kind.NAME):
            return False
        name = self.curr
        self._advance()
        self._accept(Kind.EOL)
        if not self._accept(Kind.LBRACE):
            return False
        self._accept(Kind.EOL)
        self._section = Section(str(name.value), keyword.value[1:-1], self.lexer.file, name.line)
        self.tables.namespace(keyword)[self._section.name] = self._section
        self._pending = ""
        return True

    def _section_body(self) -> bool:
        """At least one assignment; separators are `,`? EOL+; then EOL? `}`."""
        if not self._assignment():
            return False
        while True:
            self._accept(Kind.COMMA)
            if not (self._accept(Kind.EOL) and self._assignment()):
                break
        self._accept(Kind.EOL)
        if not self._accept(Kind.RBRACE):
            return False
        self._section = None
        return True

    def _include(self) -> bool:
        if not self._accept(Kind.INCLUDE):
            return False
        self._pending = "include"
        if not self._at(Kind.STR):
            return False
        self.includes.append(self.curr)
        self._pending = ""
        self._advance()
        return True

    def _error(self) -> ConfigError:
        wanted = self._hint[1] if self._hint and self._hint[0] is self.curr else self._expected
        expected = " or ".join(dict.fromkeys(kind.value for kind in wanted))
        message = f"syntax error: unexpected {self.curr.describe()}"
        message += f", expected {expected}" if expected else ""
        if self.lexer.cut:
            message += f" (a name or string before it is longer than greyd's {GREYD_MAX_TOKEN_BYTES} bytes)"
        return ConfigError(message, self.lexer.file, self.curr.line, self.curr.col)

    def _note_stop(self) -> None:
        """Warn when greyd's silent success hides lost configuration (spec Decisions, traps 11)."""
        lost = [f"the unfinished {self._pending} is dropped"] if self._pending else []
        if self._section is not None:
            lost.append(f"{self._section.kind} {self._section.name!r} keeps only the keys read before "
                        "this point and replaces any earlier one")
        if self.curr.stray:
            head = f"greyd stops reading this file at {self.curr.describe()} and ignores the rest"
        elif lost:
            head = "file ends in the middle of a statement, which greyd ignores"
        else:
            return
        self._warn(self.curr, "; ".join([head, *lost]))

    def _warn(self, token: Token, message: str) -> None:
        self.lexer.warnings.append(ConfigWarning(message, self.lexer.file, token.line, token.col))
