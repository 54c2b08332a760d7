"""build_world: one call that simulates the period and writes every file the report reads.

Same arguments, same bytes: all randomness comes from numpy Generators spawned from `seed` (one each for
the population, the plan and the log fields, so switching the ledger off changes no other file), and the
files contain no wall-clock time. Output files in `out_dir`: kern.log, greyd.log, greyd.sqlite (greyd's
database at the end), ledger.sqlite (greylogd's ledger, fed every 20 s of simulated time by the real
greylogd.ledger code in a child process, see ledger_feed.py), truth.json, truth-tuples.parquet,
truth-senders.parquet (see truth.py).

Size (bench/demo_world.py; CPU seconds of the builder and its ledger process): 10k connections ~3 s,
1M ~85 s and 0.9 GB peak RSS, 10M ~870 s and 6.1 GB (plus the ledger file, ~1.8 GB, in /dev/shm while it
is polled). Phases free what the next one does not need, and release_memory() hands it back to the OS.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from greylogd.analysis.period import Period
from greylogd.demo import truth
from greylogd.demo.greyddb import GreydDB
from greylogd.demo.greydlog_writer import GreydLog
from greylogd.demo.hosts import Hosts
from greylogd.demo.kernlog_writer import write_kernlog
from greylogd.demo.ledger_feed import LedgerFeed
from greylogd.demo.messages import DAY, Context
from greylogd.demo.params import DEFAULT_CONNECTIONS, DEFAULT_START, SPAMTRAPS, GreyParams
from greylogd.demo.plan import Plan, build_plan
from greylogd.demo.population import NOISE_SHARES, senders, white_seed
from greylogd.demo.simulate import DROPPED, WHITED, Outcome, Simulator
from greylogd.demo.syslogfmt import check_format
from greylogd.memory import release_memory

BOT_BEHAVIOURS = ("spam_no_retry", "spam_retry_early", "trap_hitter", "blacklisted")
PREFIXES = ("[GREYD WHITED] ", "[GREYD 25 DNAT] ", *NOISE_SHARES)


@dataclass(frozen=True, slots=True)
class World:
    """Paths of a simulated period's files and what it was built from; start/end are tz-aware UTC."""

    kern_log: Path
    greyd_log: Path
    greyd_db: Path
    ledger: Path | None
    truth: Path
    truth_tuples: Path
    truth_senders: Path
    start: pd.Timestamp
    end: pd.Timestamp
    seed: int
    connections: int
    params: GreyParams

    @property
    def period(self) -> Period:
        return Period(self.start, self.end, f"demo {self.start:%Y-%m-%d}..{self.end:%Y-%m-%d}")


def _connections(rng: np.random.Generator, plan: Plan, out: Outcome, epoch: int, days: int) -> pd.DataFrame:
    """Kernel-logged connections: every attempt made, plus firewall noise (FAILED, JAILED) from bots."""
    made = np.flatnonzero(out.route != DROPPED)
    bot = np.isin(plan.behaviour[plan.msg[made]], BOT_BEHAVIOURS)
    frames = [pd.DataFrame({
        "ts_us": np.round((epoch + plan.t[made]) * 1e6).astype(np.int64), "host": plan.host[made],
        "prefix": np.where(out.route[made] == WHITED, 0, 1).astype(np.int8), "dpt": 25, "server": ~bot})]
    bot_hosts = plan.host[made][bot]
    for code, (prefix, share) in enumerate(NOISE_SHARES.items(), start=2):
        n = max(1, round(len(made) * share)) if len(bot_hosts) else 0
        at = np.round((epoch + rng.random(n) * days * DAY) * 1e6).astype(np.int64)
        frames.append(pd.DataFrame({"ts_us": at, "host": bot_hosts[rng.integers(0, len(bot_hosts), n)],
                                    "prefix": np.int8(code), "dpt": 8025 if "8025" in prefix else 25,
                                    "server": False}))
    conns = pd.concat(frames, ignore_index=True)
    conns["prefix"] = pd.Categorical.from_codes(conns["prefix"], PREFIXES)  # 1 byte a row, not a string
    return conns


def _paths(out_dir: Path) -> dict[str, Path]:
    names = {"kern": "kern.log", "greyd": "greyd.log", "db": "greyd.sqlite", "ledger": "ledger.sqlite",
             "json": "truth.json", "tuples": "truth-tuples.parquet", "senders": "truth-senders.parquet"}
    return {key: out_dir / name for key, name in names.items()}


def _simulate(plan: Plan, hosts: Hosts, ctx: Context, regulars: np.ndarray, epoch: int, days: int,
              params: GreyParams, paths: dict[str, Path], with_ledger: bool) -> Outcome:
    """Run greyd, greylogd and (optionally) the ledger over the plan; saves greyd's database."""
    db = GreydDB(params)
    db.seed(white_seed(ctx, regulars, epoch, params), SPAMTRAPS)
    paths["ledger"].unlink(missing_ok=True)
    with contextlib.ExitStack() as stack:
        ledger = None
        if with_ledger:  # on a RAM disk while polled: each poll is a durable commit, fsync would dominate
            ram = stack.enter_context(tempfile.TemporaryDirectory(dir=_ram_dir(len(plan.t))))
            scratch = Path(ram) / "ledger.sqlite"
            ledger = LedgerFeed(scratch)
        sim = Simulator(plan, hosts, db, epoch, ledger.observe if ledger else None)
        sim.seed_white(regulars)
        out = sim.run(days)
        if ledger is not None:
            ledger.close()
            shutil.copyfile(scratch, paths["ledger"])
    db.save(paths["db"])
    return out


def _plan(ctx: Context, rng: np.random.Generator, connections: int, days: int) -> tuple[Plan, np.ndarray]:
    """The plan and the regular correspondents' host ids; the message batches are dropped once planned
    (their [messages, attempts] matrices are as big as the plan)."""
    batches, regulars = senders(ctx, connections)
    return build_plan(rng, batches, days), regulars


LEDGER_BYTES_PER_ATTEMPT = 100  # measured ~50 (1.84 GB at 10M connections, ~4 attempts each), doubled


def _ram_dir(attempts: int, shm: str = "/dev/shm") -> str | None:
    """/dev/shm when the machine has it with room for the ledger (a container's is often 64 MB), else the
    default temporary directory (slower: the ledger's commits are then fsync'd)."""
    try:
        stat = os.statvfs(shm)
    except OSError:
        return None
    return shm if stat.f_bavail * stat.f_frsize >= attempts * LEDGER_BYTES_PER_ATTEMPT else None


def build_world(out_dir: str | Path, *, seed: int = 1, start: pd.Timestamp | str = DEFAULT_START,
                days: int = 7, connections: int = DEFAULT_CONNECTIONS, syslog_format: str = "rfc3164",
                params: GreyParams | None = None, ledger: bool = True) -> World:
    """Simulate `days` days from `start` (UTC; whole seconds) with about `connections` kernel-logged
    connections and write the files into `out_dir` (created; existing demo files are replaced).

    Raises ValueError for a bad syslog_format, days < 1, connections < 100 or a naive `start`.
    """
    params = params or GreyParams()
    check_format(syslog_format)
    begin = pd.Timestamp(start)
    if begin.tzinfo is None or days < 1 or connections < 100:
        raise ValueError("build_world: start must be tz-aware, days >= 1 and connections >= 100")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = _paths(out)
    epoch = int(begin.timestamp())
    pop_rng, plan_rng, log_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3))
    ctx = Context(pop_rng, Hosts(), days)
    plan, regulars = _plan(ctx, plan_rng, connections, days)
    release_memory()
    result = _simulate(plan, ctx.hosts, ctx, regulars, epoch, days, params, paths, ledger)
    release_memory()
    conns = _connections(log_rng, plan, result, epoch, days)
    n_kern = write_kernlog(paths["kern"], log_rng, conns, ctx.hosts, epoch, syslog_format)
    lines: dict[str, object] = {"kern_lines": n_kern}
    by_prefix = _counts(conns["prefix"].astype(str).str.strip())
    del conns  # the truth needs its counts only
    release_memory()
    greyd_log = GreydLog(plan, ctx.hosts, result, log_rng, epoch)
    lines["greyd_lines"] = greyd_log.write(paths["greyd"], syslog_format)
    del greyd_log
    lines["connections_by_prefix"] = by_prefix
    release_memory()
    plan.t = plan.db_t = np.empty(0)  # when each attempt happened is written; the truth needs who sent what
    _write_truth(paths, plan, ctx.hosts, result, lines, epoch, days, params, seed)
    end = epoch + days * 86400
    # readers date RFC 3164 lines (no year) and a SQLite snapshot by the file's mtime: the week's end, when
    # the simulated gateway last wrote them
    for name in ("kern", "greyd", "db"):
        os.utime(paths[name], (end, end))
    return World(paths["kern"], paths["greyd"], paths["db"], paths["ledger"] if ledger else None,
                 paths["json"], paths["tuples"], paths["senders"], begin.tz_convert("UTC"),
                 (begin + pd.Timedelta(days=days)).tz_convert("UTC"), seed, n_kern, params)


def open_world(out_dir: str | Path) -> World:
    """The World that build_world wrote into `out_dir`, read back from its truth.json (period, seed,
    parameters) without simulating again. Raises FileNotFoundError when there is no demo there."""
    paths = _paths(Path(out_dir))
    doc = json.loads(paths["json"].read_text(encoding="utf-8"))
    start, end = (pd.Timestamp(doc[k], unit="s", tz="UTC") for k in ("start", "end"))
    return World(paths["kern"], paths["greyd"], paths["db"],
                 paths["ledger"] if paths["ledger"].exists() else None, paths["json"], paths["tuples"],
                 paths["senders"], start, end, doc["seed"], doc["kern_lines"], GreyParams(**doc["params"]))


def _write_truth(paths: dict[str, Path], plan: Plan, hosts: Hosts, result: Outcome, lines: dict[str, object],
                 epoch: int, days: int, params: GreyParams, seed: int) -> None:
    """The truth files, one table at a time (the senders' table is written and dropped before the tuples'
    is built: at 10M connections each is gigabytes)."""
    end = epoch + days * 86400
    summary = {"seed": seed, "start": epoch, "end": end, **lines}
    truth.sender_truth(result, plan, hosts).to_parquet(paths["senders"], index=False)
    release_memory()
    tuples = truth.tuple_truth(result, plan, hosts, end, params)
    summary["tuples_by_status"] = _counts(tuples["status"])
    domains = truth.domain_truth(tuples)
    release_memory()
    spam = truth.spam_networks(result, plan, hosts, tuples)
    truth.write_truth(paths, summary, tuples, domains, spam, params)


def _counts(values: pd.Series) -> dict[str, int]:
    return {str(k): int(v) for k, v in values.value_counts().sort_index().items()}
