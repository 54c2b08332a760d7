"""greylogd-report: build the weekly greylisting report (PDF, HTML, CSV, Parquet, JSON) and mail it."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import pandas as pd

from greylogd.analysis.period import Period, parse_period
from greylogd.analysis.weekly import EVENT_COLUMNS, WeeklySettings, build_report
from greylogd.config import Config, load
from greylogd.errors import GreylogdError
from greylogd.memory import release_memory
from greylogd.report.inputs import Sources, load_inputs
from greylogd.report.mail import MailSettings
from greylogd.report.output import FORMATS, mail_report, write_report

log = logging.getLogger("greylogd.report")

DESCRIPTION = """\
Build the weekly greylisting report of a greyd gateway: which sender domains greylisting delayed and by
how much, which never came back (deferred), which passed (trusted), pool rotation, whitelist
suggestions with a line to paste into greyd, spam-source networks, trapped hosts, whitelist health and
data quality. Every number is defined in the report's glossary (spec/report.md).

Inputs are all optional; the report says what it could not compute without a source:
  kernel LOG lines (kern.log, syslog, rotated .gz, dmesg), greyd's syslog lines, journald JSON exports,
  greyd's database (SQLite file, greydb listing, or the database section of greyd.conf via -f), and
  greylogd's ledger (the only source of sender domains for a whole week)."""

EPILOG = """\
examples:
  greylogd-report --demo
      build a simulated week into reports/demo/ and report on it
  greylogd-report -f /etc/greyd/greyd.conf --ledger /var/lib/greylogd/ledger.sqlite \\
      --kernel-log /var/log/kern.log --kernel-log /var/log/kern.log.1 --greyd-log /var/log/greyd.log
      last week's report from all sources, into reports/2026-W46/
  greylogd-report --period 2026-W46 --tz Europe/Berlin --db greydb-listing.txt --format html,json
  greylogd-report --period 2026-11-01..2026-11-30 --ledger ledger.sqlite --out /srv/reports
  greylogd-report -f /etc/greyd/greyd.conf --ledger ledger.sqlite --mail
      mail it as configured in greyd.conf:
        section report { smtp_host = "mail.example.org"; smtp_port = 587; starttls = 1;
                         user = "reports"; password_file = "/etc/greylogd/smtp.pass";
                         from = "greylogd@example.org"; to = [ "postmaster@example.org" ] }

section report keys: tz, delay_threshold (s, default 1800), min_promoted (3), top (20), gap_hours (6),
smtp_host, smtp_port (25, or 465 with tls), starttls, tls, user, password_file, cafile, from, to.
exit status: 0 report written (and mailed), 1 bad input or mail failure, 2 usage error."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="greylogd-report", description=DESCRIPTION, epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add = parser.add_argument
    add("--period", default="last-week", help="last-week (default), this-week, YYYY-Www or START..END "
        "(ISO dates or date-times; an END date is inclusive)")
    add("--tz", help="time zone of the period and of times shown (default: section report tz, else UTC)")
    add("--kernel-log", action="append", type=Path, default=[], metavar="PATH",
        help="kernel LOG lines (plain or .gz, syslog or dmesg format); repeatable")
    add("--greyd-log", action="append", type=Path, default=[], metavar="PATH",
        help="greyd/greylogd syslog lines; repeatable")
    add("--journal", action="append", type=Path, default=[], metavar="PATH",
        help="journalctl -o json export (kernel and greyd lines); repeatable")
    add("--log-tz", metavar="TZ", help="time zone of syslog stamps without one (default: this machine's)")
    add("--db", type=Path, metavar="PATH", help="greyd's SQLite file or a saved greydb/spamdb listing")
    add("-f", "--config", type=Path, metavar="GREYD_CONF",
        help="greyd.conf: database section (if no --db), grey_expiry, section report")
    add("--ledger", type=Path, metavar="PATH", help="greylogd's ledger (SQLite)")
    add("--out", type=Path, default=Path("reports"), metavar="DIR",
        help="output folder; the report goes into DIR/<period label>/ (default reports/)")
    add("--format", default=",".join(FORMATS),
        help=f"comma-separated subset of {','.join(FORMATS)} (default all)")
    add("--mail", action="store_true", help="mail the report as configured in -f's section report")
    add("--demo", action="store_true", help="simulate a week (greylogd.demo) into DIR/demo and report on it")
    add("--seed", type=int, default=1, help="--demo: random seed (default 1)")
    add("--demo-connections", type=int, metavar="N", help="--demo: about N kernel-logged connections "
        "(default: the demo's own, 20000)")
    add("-v", "--verbose", action="store_true", help="log progress to stderr")
    return parser


def _formats(parser: argparse.ArgumentParser, text: str) -> set[str]:
    chosen = {f.strip() for f in text.split(",") if f.strip()}
    if not chosen or chosen - set(FORMATS):
        parser.error(f"--format: unknown format(s) {', '.join(sorted(chosen - set(FORMATS))) or '(none)'}; "
                     f"choose from {','.join(FORMATS)}")
    return chosen


def _settings(config: Config | None) -> WeeklySettings:
    if config is None:
        return WeeklySettings()
    section = config.section("report")
    defaults = WeeklySettings()
    return WeeklySettings(
        grey_expiry_s=config.grey_settings().grey_expiry,
        delay_threshold_s=int(section.get("delay_threshold", defaults.delay_threshold_s)),  # type: ignore[arg-type]
        min_promoted=int(section.get("min_promoted", defaults.min_promoted)),  # type: ignore[arg-type]
        top=int(section.get("top", defaults.top)),  # type: ignore[arg-type]
        gap_hours=float(section.get("gap_hours", defaults.gap_hours)))  # type: ignore[arg-type]


def _demo_sources(args: argparse.Namespace) -> tuple[Sources, Period]:
    """Simulate a week into OUT/demo; the period is the simulated one, named like any other."""
    from greylogd.demo import build_world

    out = args.out / "demo"
    size = {} if args.demo_connections is None else {"connections": args.demo_connections}
    world = build_world(out, seed=args.seed, **size)  # files dated at the week's end
    print(f"demo world built in {out}")
    sources = Sources(kernel_logs=(world.kern_log,), greyd_logs=(world.greyd_log,), db=world.greyd_db,
                      ledger=world.ledger, log_tz="UTC")
    return sources, _named(world.start, world.end)


def _named(start: pd.Timestamp, end: pd.Timestamp) -> Period:
    """The simulated span as a period: an ISO week's name when it is one, else FIRST..LAST day."""
    year, week, weekday = start.isocalendar()
    if weekday == 1 and start == start.normalize() and end - start == pd.Timedelta(days=7):
        return parse_period(f"{year}-W{week:02d}", "UTC")
    return parse_period(f"{start.date()}..{(end - pd.Timedelta(days=1)).date()}", "UTC")


def _run(args: argparse.Namespace, formats: set[str]) -> list[Path]:
    config = load(args.config) if args.config else None
    tz = args.tz or str((config.section("report") if config else {}).get("tz", "UTC"))
    if args.demo:
        sources, period = _demo_sources(args)
    else:
        sources = Sources(tuple(args.kernel_log), tuple(args.greyd_log), tuple(args.journal), args.db,
                          config, args.ledger, args.log_tz)
        period = parse_period(args.period, tz)
    started = time.perf_counter()
    inputs = load_inputs(sources, period, EVENT_COLUMNS)
    started = _phase("inputs", started)
    report = build_report(inputs, period, _settings(config))
    del inputs  # the tables are built: the week's rows can go before rendering
    release_memory()
    started = _phase("weekly", started)
    generated = pd.Timestamp.now(tz=period.tz).floor("s")
    written = write_report(report, args.out / period.label, formats, generated)
    _phase("render", started)
    if args.mail:
        if config is None:
            raise GreylogdError("--mail needs -f greyd.conf with a section report")
        pdf = next((p for p in written if p.suffix == ".pdf"), None)
        mail_report(report, MailSettings.from_section(config.section("report"), str(args.config)), pdf,
                    generated)
    return written


def _phase(name: str, started: float) -> float:
    """Log (with -v) how long a phase took, in seconds of wall time; returns the time now."""
    now = time.perf_counter()
    log.info("phase %s %.2f s", name, now - started)
    return now


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    formats = _formats(parser, args.format)
    if not (args.demo or args.kernel_log or args.greyd_log or args.journal or args.db or args.config
            or args.ledger):
        parser.error("no input: give --kernel-log, --greyd-log, --journal, --db, -f or --ledger (or --demo)")
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="greylogd-report: %(message)s")
    if args.verbose:  # our progress only: libraries' INFO (fontTools subsetting the PDF fonts) is noise
        logging.getLogger("greylogd").setLevel(logging.INFO)
    try:
        written = _run(args, formats)
    except GreylogdError as exc:
        print(f"greylogd-report: error: {exc}", file=sys.stderr)
        return 1
    _print_written(written)
    return 0


def _print_written(written: list[Path]) -> None:
    """Where the report landed: the documents one per line, the table files as counts."""
    print(f"report written to {written[0].parent}/")
    for path in written:
        if path.suffix in (".pdf", ".html", ".json"):
            print(f"  {path}")
    for suffix in (".csv", ".parquet"):
        if count := sum(p.suffix == suffix for p in written):
            print(f"  {count} tables as {suffix[1:].upper()} ({written[0].parent}/*{suffix})")


if __name__ == "__main__":
    sys.exit(main())
