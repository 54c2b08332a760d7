"""greyd.conf as greyd reads it: `load(path)` / `parse(text)` return one immutable `Config`.

Contract:
- Syntax errors raise greylogd.errors.ConfigError(message, file, line, col), one line, 1-based positions.
  A missing or unreadable file (the main one or an include match) raises ConfigError naming it.
- Where greyd silently ignores part of a file (a stray `-`, `.`, `%`, `'` ends its parse with success, an
  integer wraps, a string is cut, an include loop is skipped), the file is read the way greyd reads it and a
  `ConfigWarning` (file, line, col, message) is appended to `Config.warnings`: a returned list rather than
  Python `warnings`, so the daemon logs each one and `greylogd --check` prints them.
- Includes follow greyd (src/config.c): the pattern is expanded with glob(3) semantics (`~`, sorted matches,
  no match ignored) relative to the process's working directory, not to the including file; matches are
  queued and read after the including file is finished, so they override it; each path is read once.
- Lookups are strict: `Config.grey_settings()` and friends raise ConfigError for an int key holding a string
  or the reverse, where greyd would silently fall back to its default.
Unknown sections and keys are kept (greylogd's own `section greylogd {}` lives in the same file).
"""

from __future__ import annotations

import collections
import glob
import os
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from greylogd import config_settings
from greylogd.config_describe import describe
from greylogd.config_grammar import Entry, Parser, RawValue, Section, Tables
from greylogd.config_lexer import ConfigWarning, Lexer
from greylogd.config_settings import (
    DatabaseSettings,
    FirewallSettings,
    GreySettings,
    SyncSettings,
    driver_backend,
)
from greylogd.errors import ConfigError

__all__ = ["Config", "ConfigWarning", "DatabaseSettings", "FirewallSettings", "GreySettings", "SyncSettings",
           "Value", "driver_backend", "load", "parse"]

#: A configuration value as handed to callers: lists are fresh lists of ints and/or strings.
Value = int | str | list[int | str]


def _public(value: RawValue) -> Value:
    return list(value) if isinstance(value, tuple) else value


def _values(section: Section | None) -> Mapping[str, Value]:
    entries = section.entries if section else {}
    return MappingProxyType({key: _public(entry.value) for key, entry in entries.items()})


class Config:
    """Everything read from one greyd.conf and its includes; see the module docstring for the contract."""

    def __init__(self, tables: Tables, warnings: list[ConfigWarning], files: list[str]) -> None:
        self._tables = tables
        self.warnings = warnings
        self.files = tuple(files)  # in the order they were read

    @property
    def globals(self) -> Mapping[str, Value]:
        """Top-level keys (greyd's implicit section `default`): hostname, debug, user, ..."""
        return self.section("default")

    @property
    def sections(self) -> Mapping[str, Mapping[str, Value]]:
        """All `section` blocks by name, including `default`; blacklists/whitelists are separate."""
        return MappingProxyType({name: _values(s) for name, s in self._tables.sections.items()})

    @property
    def blacklists(self) -> Mapping[str, Mapping[str, Value]]:
        """`blacklist NAME {}` blocks (greyd-setup's sources), a namespace of their own."""
        return MappingProxyType({name: _values(s) for name, s in self._tables.blacklists.items()})

    @property
    def whitelists(self) -> Mapping[str, Mapping[str, Value]]:
        """`whitelist NAME {}` blocks, a namespace of their own."""
        return MappingProxyType({name: _values(s) for name, s in self._tables.whitelists.items()})

    def section(self, name: str) -> Mapping[str, Value]:
        """Keys of `section NAME` (empty mapping when absent); names are lower-case as greyd stores them."""
        return _values(self._tables.sections.get(name))

    def entry(self, section: str, key: str) -> Entry | None:
        """The stored entry with its file:line:col, or None when absent."""
        found = self._tables.sections.get(section)
        return found.entries.get(key) if found else None

    def entries(self, section: str) -> Mapping[str, Entry]:
        """A section's entries with their locations (empty when absent)."""
        found = self._tables.sections.get(section)
        return MappingProxyType(found.entries if found else {})

    def get(self, section: str, key: str, kind: type, default: Any) -> Any:
        """Strict typed lookup for keys without a settings class (e.g. `section greylogd`): `kind` is int,
        str, bool (an int tested for non-zero) or tuple (a list of strings, returned as a tuple);
        `default` when absent; ConfigError at the key's file:line:col when the type is wrong."""
        return config_settings.read(self.entries(section), section, key, kind, default)

    def grey_settings(self) -> GreySettings:
        """Section `grey` with greyd's code defaults (spec 3.4)."""
        return config_settings.build(GreySettings, self.entries("grey"))

    def firewall_settings(self) -> FirewallSettings:
        """Section `firewall`; ConfigError when the driver is missing, unknown or not usable by greylogd."""
        return config_settings.build_firewall(self.entries("firewall"), self.files[0])

    def sync_settings(self) -> SyncSettings:
        """Section `sync` with greyd's code defaults."""
        return config_settings.build(SyncSettings, self.entries("sync"))

    def database_settings(self) -> DatabaseSettings:
        """Section `database` plus the global `hostname` that MySQL/PostgreSQL rows carry as greyd_host."""
        return config_settings.build_database(self.entries("database"), self.entries("default"),
                                              self.files[0])

    def describe(self) -> str:
        """Human-readable dump for `greylogd --check`: raw sections, typed settings, warnings."""
        return describe(self, self._tables)

    def with_overrides(self, overrides: Mapping[str, Mapping[str, Value]],
                       source: str = "command line") -> Config:
        """A copy with `overrides[section][key]` replacing single keys, as greyd merges its command-line
        config over the file (Config_merge: per key, missing sections created, a list replaces the whole
        list). The copied entries are located at `source` (line 0: no line) in errors and describe()."""
        tables = Tables(*({name: Section(s.name, s.kind, s.file, s.line, dict(s.entries))
                           for name, s in table.items()}
                          for table in (self._tables.sections, self._tables.blacklists,
                                        self._tables.whitelists)))
        for name, keys in overrides.items():
            section = tables.sections.setdefault(name, Section(name, "section", source, 0))
            for key, value in keys.items():
                stored = tuple(value) if isinstance(value, list) else value
                section.entries[key] = Entry(stored, source, 0, 0)
        return Config(tables, list(self.warnings), list(self.files))


class _Loader:
    """greyd's Config_load_file: one shared set of tables, a FIFO of include matches, each path read once."""

    def __init__(self) -> None:
        self.tables = Tables()
        self.warnings: list[ConfigWarning] = []
        self.files: list[str] = []
        self.queue: collections.deque[str] = collections.deque()

    def run(self, text: str, name: str) -> Config:
        self._parse(text, name)
        while self.queue:
            path = self.queue.popleft()
            if path not in self.files:
                self._parse(_read(path, self.warnings), path)
        self._note_ineffective()
        return Config(self.tables, self.warnings, self.files)

    def _note_ineffective(self) -> None:
        """greyd documents grey.low_prio_mx (and its -M writes it) but only reads the top-level key."""
        grey = self.tables.sections.get("grey")
        entry = grey.entries.get("low_prio_mx") if grey else None
        if entry is not None:
            self.warnings.append(ConfigWarning("greyd ignores low_prio_mx in section grey; only a top-level "
                                               "low_prio_mx takes effect", entry.file, entry.line, entry.col))

    def _parse(self, text: str, name: str) -> None:
        self.files.append(name)
        lexer = Lexer(text, name)
        parser = Parser(lexer, self.tables)
        try:
            parser.run()
        finally:
            self.warnings.extend(lexer.warnings)
        for token in parser.includes:
            self._enqueue(str(token.value), (name, token.line, token.col))

    def _enqueue(self, pattern: str, where: tuple[str, int, int]) -> None:
        matches = sorted(glob.glob(os.path.expanduser(pattern)))
        if not matches and not glob.has_magic(pattern):
            message = f"include {pattern!r} names no existing file; greyd ignores it"
            self.warnings.append(ConfigWarning(message, *where))
        for path in matches:
            if path in self.files or path in self.queue:
                self.warnings.append(ConfigWarning(
                    f"include {path!r} is already read or queued; greyd reads each file once", *where))
            else:
                self.queue.append(path)


def _read(path: str, warnings: list[ConfigWarning]) -> str:
    """A config file's text; bytes that are not UTF-8 become U+FFFD with a warning (greyd takes any byte)."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as error:
        raise ConfigError(f"cannot read config file: {error.strerror}", path) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        col = error.start - (data.rfind(b"\n", 0, error.start) + 1) + 1
        warnings.append(ConfigWarning("bytes that are not UTF-8 are read as U+FFFD", path, line, col))
        return data.decode("utf-8", "replace")


def parse(text: str, filename: str = "<string>") -> Config:
    """Parse config text as if it were the file `filename`; its includes are read from disk."""
    return _Loader().run(text, filename)


def load(path: str | os.PathLike[str]) -> Config:
    """Read greyd.conf at `path` and everything it includes."""
    loader = _Loader()
    name = os.fspath(path)
    return loader.run(_read(name, loader.warnings), name)
