"""greyd's three database schemas, verbatim, and the check that refuses a database without them.

SQLite: greyd runs SQLITE_CREATE (CREATE TABLE IF NOT EXISTS, whitespace included) on every open, and so do
we, so a file created by either program is identical. PostgreSQL and MySQL: greyd never creates tables;
the admin loads drivers/postgresql_schema.sql or drivers/mysql_schema.sql, reproduced here byte for byte
(spec/greyd-compat.md 1.2-1.4) so that `greylogd-db --print-schema postgresql | psql greyd` does it.
"""

from __future__ import annotations

from greylogd.errors import SchemaError

# greyd's drivers/sqlite.c builds this from backslash-continued lines: the indentation is part of the text.
SQLITE_CREATE = "".join((
    "CREATE TABLE IF NOT EXISTS spamtraps(        ",
    "               `address` VARCHAR(1024),                 ",
    "               PRIMARY KEY(`address`)                   ",
    "           );                                           ",
    "           CREATE TABLE IF NOT EXISTS domains(          ",
    "               `domain` VARCHAR(1024),                  ",
    "               PRIMARY KEY(`domain`)                    ",
    "           );                                           ",
    "           CREATE TABLE IF NOT EXISTS entries(          ",
    "               `ip`     VARCHAR(46),                    ",
    "               `helo`   VARCHAR(1024),                  ",
    "               `from`   VARCHAR(1024),                  ",
    "               `to`     VARCHAR(1024),                  ",
    "               `first`  UNSIGNED BIGINT,                ",
    "               `pass`   UNSIGNED BIGINT,                ",
    "               `expire` UNSIGNED BIGINT,                ",
    "               `bcount` INTEGER,                        ",
    "               `pcount` INTEGER,                        ",
    "               PRIMARY KEY (`ip`, `helo`, `from`, `to`) ",
    "           );",
))

_SPAMTRAPS_COMMENT = (
    "--\n-- Table to hold the individual spamtrap email addresses. This\n"
    '-- is not to be confused with the "permitted domains".\n--\n'
)
_DOMAINS_COMMENT = (
    "--\n-- Table to hold the individual permitted domains, which augments\n"
    "-- the filesystem permitted domains list.\n--\n"
)
_ENTRIES_COMMENT = "--\n-- Table to store the white, grey & trap entries.\n--\n"


def _column_lines(quote: str, width: int, columns: tuple[tuple[str, str], ...]) -> str:
    """The entries column list as greyd's files align it: quoted name padded to `width`, then the type."""
    return "".join(f"  {quote + name + quote:<{width}} {decl},\n" for name, decl in columns)


POSTGRESQL_SCHEMA = (
    _SPAMTRAPS_COMMENT
    + 'CREATE TABLE IF NOT EXISTS spamtraps(\n  "address" varchar(255) PRIMARY KEY\n);\n\n'
    + _DOMAINS_COMMENT
    + 'CREATE TABLE IF NOT EXISTS domains(\n  "domain" varchar(255) PRIMARY KEY\n);\n\n'
    + _ENTRIES_COMMENT
    + "CREATE TABLE IF NOT EXISTS entries(\n"
    + _column_lines('"', 12, (
        ("ip", "varchar(46)"), ("helo", "varchar(255)"), ("from", "varchar(255)"), ("to", "varchar(255)"),
        ("first", "bigint"), ("pass", "bigint"), ("expire", "bigint"), ("bcount", "integer"),
        ("pcount", "integer"), ("greyd_host", "varchar(255)")))
    + '  PRIMARY KEY ("ip", "helo", "from", "to")\n);\n\n'
    + "--\n-- Index the greyd_host column (B-tree).\n--\n"
    + 'CREATE INDEX greyd_host_index ON entries("greyd_host");\n'
)

_MYSQL_TAIL = ") engine=innodb, charset=latin1;\n"
MYSQL_SCHEMA = (
    _SPAMTRAPS_COMMENT
    + "CREATE TABLE IF NOT EXISTS spamtraps(\n  `address` VARCHAR(255),\n  PRIMARY KEY(`address`)\n"
    + _MYSQL_TAIL + "\n"
    + _DOMAINS_COMMENT
    + "CREATE TABLE IF NOT EXISTS domains(\n  `domain` VARCHAR(255),\n  PRIMARY KEY(`domain`)\n"
    + _MYSQL_TAIL + "\n"
    + _ENTRIES_COMMENT
    + "CREATE TABLE IF NOT EXISTS entries(\n"
    + _column_lines("`", 8, (
        ("ip", "VARCHAR(46)"), ("helo", "VARCHAR(255)"), ("from", "VARCHAR(255)"), ("to", "VARCHAR(255)"),
        ("first", "BIGINT"), ("pass", "BIGINT"), ("expire", "BIGINT"), ("bcount", "INTEGER"),
        ("pcount", "INTEGER"), ("greyd_host", "VARCHAR(255)")))
    + "  PRIMARY KEY (`ip`, `helo`, `from`, `to`),\n  INDEX (`greyd_host`)\n"
    + _MYSQL_TAIL
)

SCHEMAS = {"postgresql": POSTGRESQL_SCHEMA, "mysql": MYSQL_SCHEMA}

# Column -> "text" or "int": what greyd's code reads and writes, whatever the declared width.
_ENTRY_COLUMNS = {"ip": "text", "helo": "text", "from": "text", "to": "text", "first": "int",
                  "pass": "int", "expire": "int", "bcount": "int", "pcount": "int"}


def expected_columns(with_host: bool) -> dict[str, dict[str, str]]:
    """Tables and column families greyd needs; greyd_host exists only on PostgreSQL/MySQL."""
    entries = dict(_ENTRY_COLUMNS, greyd_host="text") if with_host else dict(_ENTRY_COLUMNS)
    return {"spamtraps": {"address": "text"}, "domains": {"domain": "text"}, "entries": entries}


def type_family(declared: str) -> str:
    """Map a declared SQL type to "int", "text" or "other" (SQLite's affinity rules, which also cover the
    type names PostgreSQL and MySQL report: bigint, integer, character varying, varchar, text)."""
    decl = declared.lower()
    if "int" in decl:
        return "int"
    if any(word in decl for word in ("char", "clob", "text")):
        return "text"
    return "other"


def check_columns(found: dict[str, dict[str, str]], expected: dict[str, dict[str, str]],
                  where: str, hint: str) -> None:
    """Raise one SchemaError naming the first missing table, missing column or wrong column type.

    `found` maps table -> column -> declared type as the database reports it; `hint` tells the admin how
    to load greyd's schema.
    """
    for table, columns in expected.items():
        if table not in found:
            raise SchemaError(f"{where}: table {table} is missing; {hint}")
        for column, family in columns.items():
            declared = found[table].get(column)
            if declared is None:
                raise SchemaError(f"{where}: table {table} has no column {column}; {hint}")
            if type_family(declared) != family:
                raise SchemaError(f"{where}: column {table}.{column} is {declared}, greyd needs {family}; "
                                  f"{hint}")
