"""`greylogd --check` output: everything a Config understood, sorted, each value with where it came from.

Contract: `describe(config, tables)` returns text and never raises; a typed section that does not build
(wrong type, missing driver) is shown as an `ERROR` line so the admin sees every problem in one run.
Origins are `file:line` or `default` (greyd's code default). Passwords (`pass`, typed `password`) are shown
as HIDDEN when set: the dump is meant to be pasted into tickets and mails.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from typing import TYPE_CHECKING, Any

from greylogd.config_grammar import Section, Tables
from greylogd.errors import ConfigError

if TYPE_CHECKING:
    from greylogd.config import Config

#: Typed fields that are not read from a key of their own: where their value comes from.
_DERIVED = {"driver": ("", "driver"), "backend": ("", "driver"), "port": ("", "port"),
            "greyd_host": ("default", "hostname")}
SECRETS = frozenset({"pass", "password"})
HIDDEN = "<hidden>"


def shown(key: str, value: Any) -> Any:
    """The value as --check prints it: HIDDEN for a set password."""
    return HIDDEN if key in SECRETS and value not in (None, "") else value


def _block(kind: str, section: Section) -> list[str]:
    if kind == "section" and section.name == "default":
        head = "[globals]"  # greyd's implicit section: top-level keys, possibly from several files
    else:
        head = f"[{kind} {section.name}]  # {_at(section.file, section.line)}"  # the block that won
    lines = [head]
    for key in sorted(section.entries):
        entry = section.entries[key]
        value = list(entry.value) if isinstance(entry.value, tuple) else entry.value
        lines.append(f"{key} = {shown(key, value)!r}  # {_at(entry.file, entry.line)}")
    return lines


def _raw(tables: Tables) -> list[str]:
    lines: list[str] = []
    for kind, table in (("section", tables.sections), ("blacklist", tables.blacklists),
                        ("whitelist", tables.whitelists)):
        for name in sorted(table, key=lambda name: (name != "default", name)):
            lines += [*_block(kind, table[name]), ""]
    return lines


def _at(file: str, line: int) -> str:
    """`file:line`, or just the file for command-line overrides (line 0)."""
    return f"{file}:{line}" if line else file


def _origin(config: Config, section: str, key: str) -> str:
    entry = config.entry(section, key)
    if entry:
        return _at(entry.file, entry.line)
    return "default (gethostname())" if key == "hostname" else "default"


def _typed(config: Config, build: Callable[[], Any]) -> list[str]:
    try:
        settings = build()
    except ConfigError as error:
        return [f"ERROR {error}"]
    section = type(settings).SECTION
    lines = []
    for f in sorted(fields(settings), key=lambda f: f.name):
        where, key = _DERIVED.get(f.name, (section, f.metadata.get("key") or f.name))
        lines.append(f"{section}.{f.name} = {shown(f.name, getattr(settings, f.name))!r}  "
                     f"# {_origin(config, where or section, key)}")
    return lines


def describe(config: Config, tables: Tables) -> str:
    """The whole dump; see the module docstring."""
    lines = ["# files read, in order:", *(f"#   {name}" for name in config.files), "", *_raw(tables)]
    lines.append("# typed settings used by greylogd")
    for build in (config.database_settings, config.firewall_settings, config.grey_settings,
                  config.sync_settings):
        lines += _typed(config, build)
    lines += ["", f"# {len(config.warnings)} warning(s)", *(f"WARNING {w}" for w in config.warnings)]
    return "\n".join(lines) + "\n"
