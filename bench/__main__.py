"""`python -m bench`: every scenario, emit and the peer side by side, one table, one JSON file.

Run it through `make bench`, which builds the benchmark's own virtual environment (emit plus the
pinned `eventsourcing` peer). Options: `--quick` for a smoke run with smaller workloads,
`--only W1,W3` to pick scenarios (`--only E1`: the event explorer's log alone), `--postgres URL`
(or `--postgres ''` to skip PostgreSQL), `--json PATH`.

The write scenarios run in interleaved slices (see bench/commands.py) and the read scenarios
repeat their timed call (bench/replay.py); each side's least disturbed slice or repeat counts,
so that other processes on a shared machine do not decide a ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import commands, memory, peer, raw, replay
from bench.databases import Postgres, Workspace, postgres_or_none
from bench.report import Row, machine, table, write_json
from bench.workload import Commands, long_cart_expected

DEFAULT_POSTGRES = os.environ.get(
    "EMIT_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


@dataclass(frozen=True)
class Sizes:
    commands: int
    carts: int
    long_cart: int
    touched: int
    repeats: int


FULL = Sizes(commands=10_000, carts=100, long_cart=10_000, touched=100_000, repeats=9)
QUICK = Sizes(commands=1_000, carts=100, long_cart=1_000, touched=5_000, repeats=3)


class Bench:
    def __init__(self, sizes: Sizes, workspace: Workspace, postgres: Postgres | None) -> None:
        self.sizes = sizes
        self.workspace = workspace
        self.postgres = postgres
        self.rows: list[Row] = []
        self.commands = Commands(sizes.carts, sizes.commands)
        self.peer_best: dict[str, str] = {}

    def say(self, text: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)

    def sqlite_url(self, name: str) -> str:
        return f"sqlite:///{self.workspace.sqlite_path(name)}"

    def peer_sqlite(self, name: str, config: str = "defaults") -> dict[str, str]:
        return peer.sqlite_env(self.workspace.sqlite_path(name), config)

    def peer_postgres(self, config: str = "defaults") -> dict[str, str]:
        assert self.postgres is not None
        return peer.postgres_env(self.postgres.parts(), self.postgres.schema(), config)

    # --- W1 and W1c --------------------------------------------------------------------------

    def _raw(self, database: str) -> commands.RawSide:
        per_slice = max(self.sizes.commands // commands.SLICES, 100)
        if database == "sqlite":
            path = self.workspace.sqlite_path("raw")
            return commands.RawSide(lambda: raw.SqliteRows(path), per_slice)
        assert self.postgres is not None
        conninfo, schema = self.postgres.conninfo(), self.postgres.schema()
        return commands.RawSide(lambda: raw.PostgresRows(conninfo, schema), per_slice)

    def _emit_url(self, database: str, name: str) -> str:
        if database == "sqlite":
            return self.sqlite_url(name)
        assert self.postgres is not None
        return self.postgres.emit_url(self.postgres.schema())

    def _peer_env(self, database: str, name: str, config: str) -> dict[str, str]:
        if database == "sqlite":
            return self.peer_sqlite(name, config)
        return self.peer_postgres(config)

    def w1(self, database: str) -> None:
        self.say(f"W1 on {database}: {self.sizes.commands:,} commands, 1 client")
        sides: dict[str, commands.Side] = {
            "raw": self._raw(database),
            "emit": commands.EmitSide(self._emit_url(database, "emit-w1"), self.commands),
        }
        for config in peer.CONFIGS:
            env = self._peer_env(database, f"peer-w1-{config}", config)
            sides[config] = commands.PeerSide(env, self.commands)
        runs = commands.interleaved(sides)
        peer_best = max(peer.CONFIGS, key=lambda config: runs[config].rate)
        row = Row(
            "W1",
            database,
            "commands, 1 client",
            "cmd/s",
            "higher",
            runs["emit"].rate,
            runs[peer_best].rate,
            peer_best,
            runs["raw"].rate,
            notes={name: {"best": round(run.rate), **run.notes} for name, run in runs.items()},
        )
        if database == "sqlite":
            row.target = ">=2x peer, >=0.65x raw"
            row.met = (row.vs_peer or 0) >= 2 and (row.vs_raw or 0) >= 0.65
        else:
            row.target = ">=2x peer"
            row.met = (row.vs_peer or 0) >= 2
        self.rows.append(row)
        self.peer_best[database] = peer_best

    def w1c(self) -> None:
        threads = 16
        config = self.peer_best.get("sqlite", "cache")
        self.say(f"W1c on sqlite: {self.sizes.commands:,} commands from {threads} threads")
        runs = commands.interleaved(
            {
                "raw": self._raw("sqlite"),
                "emit": commands.EmitSide(self.sqlite_url("emit-w1c"), self.commands, threads),
                config: commands.PeerSide(
                    self.peer_sqlite("peer-w1c", config), self.commands, threads
                ),
            }
        )
        row = Row(
            "W1c",
            "sqlite",
            f"commands, {threads} clients",
            "cmd/s",
            "higher",
            runs["emit"].rate,
            runs[config].rate,
            config,
            runs["raw"].rate,
            target=">=1.5x raw",
            notes={name: {"best": round(run.rate), **run.notes} for name, run in runs.items()},
        )
        row.met = (row.vs_raw or 0) >= 1.5
        self.rows.append(row)

    # --- W2 and W3 ---------------------------------------------------------------------------

    def w2_w3(self, database: str) -> None:
        events = self.sizes.long_cart
        repeats = self.sizes.repeats
        self.say(f"W2/W3 on {database}: a cart of {events:,} events (building it untimed)")
        if database == "sqlite":
            url = self.sqlite_url("emit-long")
            env = self.peer_sqlite("peer-long")
        else:
            assert self.postgres is not None
            url = self.postgres.emit_url(self.postgres.schema())
            env = self.peer_postgres()
        replay.emit_build(url, events)
        cart_id = replay.peer_build(env, events, snapshots=True)
        expected = long_cart_expected(events)
        loaded = events + 1  # the genesis event too

        timings = replay.race(
            {
                "emit": replay.emit_cold_load(url, events, snapshots=False),
                "peer": replay.peer_load(env, cart_id, expected),
            },
            repeats,
        )
        ours, theirs = timings["emit"], timings["peer"]
        row = Row(
            "W2",
            database,
            f"cold load of {loaded:,} events, no snapshots",
            "events/s",
            "higher",
            loaded / ours.seconds,
            loaded / theirs.seconds,
            "defaults",
            target=">=4x peer",
            notes=medians(ours, theirs),
        )
        row.met = (row.vs_peer or 0) >= 4
        self.rows.append(row)

        timings = replay.race(
            {
                "emit": replay.emit_cold_load(url, events, snapshots=True),
                "peer": replay.peer_load(env, cart_id, expected, snapshots=True),
            },
            repeats * 4,
        )
        ours, theirs = timings["emit"], timings["peer"]
        self.rows.append(
            Row(
                "W2s",
                database,
                "cold load, both with snapshots every 100",
                "ms",
                "lower",
                ours.seconds * 1000,
                theirs.seconds * 1000,
                "snapshots",
                notes=medians(ours, theirs),
            )
        )
        if database != "sqlite":
            return

        middle = events // 2
        at_middle = long_cart_expected(events, up_to=middle - 1)
        timings = replay.race(
            {
                "emit": replay.emit_state_at(url, events, middle),
                "peer": replay.peer_load(env, cart_id, at_middle, version=middle),
                "peer with snapshots": replay.peer_load(
                    env, cart_id, at_middle, version=middle, snapshots=True
                ),
            },
            repeats,
        )
        ours = timings["emit"]
        for name, config, target in (
            ("peer", "defaults", "<=1/20 of peer"),
            ("peer with snapshots", "snapshots", ""),
        ):
            theirs = timings[name]
            row = Row(
                "W3" if config == "defaults" else "W3s",
                database,
                f"state at version {middle:,}",
                "ms",
                "lower",
                ours.seconds * 1000,
                theirs.seconds * 1000,
                config,
                target=target,
                notes=medians(ours, theirs),
            )
            if target:
                row.met = (row.vs_peer or 0) >= 20
            self.rows.append(row)

    # --- W5 ----------------------------------------------------------------------------------

    def w5(self) -> None:
        carts = self.sizes.touched
        self.say(f"W5 on sqlite: {carts:,} carts touched, pool of {memory.POOL:,}")
        url = self.sqlite_url("emit-w5")
        memory.emit_populate(url, carts)
        ours = memory.measure("emit", url, carts)
        env = self.peer_sqlite("peer-w5")
        memory.peer_populate(env, carts)
        theirs = memory.measure("peer", json.dumps(env), carts)
        growth = ours["peak_all_mb"] - ours["peak_first_mb"]
        row = Row(
            "W5",
            "sqlite",
            f"peak memory growth, 1,000 -> {carts:,} carts",
            "MB",
            "lower",
            growth,
            theirs["peak_all_mb"] - theirs["peak_first_mb"],
            "cache 1000",
            target="< 50 MB",
            met=growth < 50,
            notes={"emit": ours, "peer": theirs},
        )
        self.rows.append(row)

    # --- E1 ----------------------------------------------------------------------------------

    def e1(self) -> None:
        from bench import explorer

        self.say("E1: GET /events on a store of 200,000 events")
        self.rows.extend(explorer.run(self.workspace, self.postgres, quick=self.sizes is QUICK))

    # --- W4 ----------------------------------------------------------------------------------

    def w1n(self) -> None:
        """W1 on PostgreSQL with NOTIFY on each append (as the web app runs) against without,
        in interleaved slices: what following the store from other hosts costs an append."""
        assert self.postgres is not None
        self.say(f"W1n on postgresql: {self.sizes.commands:,} commands, NOTIFY on and off")
        sides: dict[str, commands.Side] = {
            name: commands.EmitSide(
                self.postgres.emit_url(self.postgres.schema()), self.commands, notify=notify
            )
            for name, notify in (("notify", "emit_bench"), ("plain", None))
        }
        runs = commands.interleaved(sides)
        ratio = runs["notify"].rate / runs["plain"].rate
        self.rows.append(
            Row(
                "W1n",
                "postgresql",
                "commands, 1 client, NOTIFY on / off",
                "x",
                "higher",
                ratio,
                target=">= 0.95x",
                met=ratio >= 0.95,
                notes={name: {"best": round(run.rate), **run.notes} for name, run in runs.items()},
            )
        )

    def w4v(self) -> None:
        from bench import viewers

        self.say(f"W4v: W4 in turns without and with {viewers.VIEWERS} live viewers")
        self.rows.append(viewers.run(self.workspace, quick=self.sizes is QUICK))

    def w4(self) -> None:
        from bench import http

        self.say("W4: the web app under gunicorn, 8 clients")
        self.rows.append(http.run(self.workspace, quick=self.sizes is QUICK))


def medians(ours: replay.Timing, theirs: replay.Timing) -> dict[str, float]:
    return {"emit median ms": ours.median * 1000, "peer median ms": theirs.median * 1000}


def check_peer_settings(workspace: Workspace) -> tuple[str, int]:
    shop = peer.open_shop(peer.sqlite_env(workspace.sqlite_path("peer-settings")))
    try:
        journal, synchronous = peer.check_sqlite_settings(shop)
    finally:
        shop.close()
    if (journal.lower(), synchronous) != ("wal", 2):
        raise AssertionError(
            f"the peer's SQLite runs journal_mode={journal}, synchronous={synchronous}; "
            "the comparison needs WAL and FULL (2) on both sides"
        )
    return journal, synchronous


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small workloads: a smoke run")
    parser.add_argument("--only", default="", help="comma-separated scenarios, e.g. W1,W3")
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES, help="'' to skip PostgreSQL")
    parser.add_argument("--json", default=str(Path(__file__).with_name("results.json")))
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    only = {name.strip().upper() for name in args.only.split(",") if name.strip()}

    def wanted(name: str) -> bool:
        return not only or name in only

    workspace = Workspace()
    started = time.perf_counter()
    try:
        with postgres_or_none(args.postgres) as postgres:
            bench = Bench(sizes, workspace, postgres)
            settings = check_peer_settings(workspace)
            steps: list[tuple[str, Callable[[], None]]] = [
                ("W1", lambda: bench.w1("sqlite")),
                ("W1C", bench.w1c),
                ("W2", lambda: bench.w2_w3("sqlite")),
                ("W5", bench.w5),
                ("W4", bench.w4),
                ("E1", bench.e1),
                ("W4V", bench.w4v),
            ]
            if postgres is not None:
                steps[1:1] = [("W1", lambda: bench.w1("postgresql")), ("W1N", bench.w1n)]
                steps.append(("W2", lambda: bench.w2_w3("postgresql")))
            for name, step in steps:
                if wanted(name) or (name == "W2" and (wanted("W3") or wanted("W2S"))):
                    step()
            about: dict[str, Any] = {
                "machine": machine(postgres.version if postgres else None, workspace.path),
                "sizes": sizes.__dict__,
                "quick": args.quick,
                "peer_sqlite_settings": {"journal_mode": settings[0], "synchronous": settings[1]},
                "seconds": round(time.perf_counter() - started, 1),
            }
    finally:
        workspace.close()
    print(table(bench.rows))
    write_json(Path(args.json), bench.rows, about)
    print(f"\n{about['seconds']} s; figures in {args.json}")
    missed = [f"{r.scenario} {r.database}" for r in bench.rows if r.met is False]
    if missed:
        print(f"targets missed: {', '.join(missed)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
