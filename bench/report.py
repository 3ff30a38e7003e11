"""One table on the terminal and the same figures as JSON: per scenario emit, the peer, the raw
limit where there is one, the ratios, and whether the target is met."""

from __future__ import annotations

import json
import os
import platform
import sqlite3
import subprocess
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any


@dataclass
class Row:
    """One figure per side for one scenario on one database.

    `better` says which way is good: "higher" (a rate) or "lower" (a time, a size). The ratios
    are always "how many times better emit is": above 1 emit wins.
    """

    scenario: str
    database: str
    metric: str
    unit: str
    better: str
    emit: float | None
    peer: float | None = None
    peer_config: str = ""
    raw: float | None = None
    target: str = ""
    met: bool | None = None
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def vs_peer(self) -> float | None:
        return _ratio(self.emit, self.peer, self.better)

    @property
    def vs_raw(self) -> float | None:
        return _ratio(self.emit, self.raw, self.better)

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "vs_peer": self.vs_peer, "vs_raw": self.vs_raw}


def _ratio(ours: float | None, theirs: float | None, better: str) -> float | None:
    if ours is None or theirs is None or ours == 0 or theirs == 0:
        return None
    return ours / theirs if better == "higher" else theirs / ours


def _figure(value: float | None) -> str:
    if value is None:
        return "-"
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def _times(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def table(rows: list[Row]) -> str:
    headers = [
        "scenario",
        "db",
        "metric",
        "emit",
        "peer",
        "peer config",
        "raw",
        "vs peer",
        "vs raw",
        "target",
        "met",
    ]
    lines = [
        [
            row.scenario,
            row.database,
            f"{row.metric} ({row.unit})",
            _figure(row.emit),
            _figure(row.peer),
            row.peer_config,
            _figure(row.raw),
            _times(row.vs_peer),
            _times(row.vs_raw),
            row.target,
            {True: "yes", False: "NO", None: ""}[row.met],
        ]
        for row in rows
    ]
    widths = [max(len(str(c)) for c in column) for column in zip(headers, *lines, strict=True)]

    def render(cells: list[str]) -> str:
        return "  ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([render(headers), rule, *(render(line) for line in lines)])


def machine(postgres_version: str | None, data_folder: Path) -> dict[str, Any]:
    """What the figures were measured on."""
    cpu = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "cpu": cpu or platform.processor(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "postgresql": postgres_version,
        "eventsourcing": metadata.version("eventsourcing"),
        "sqlalchemy": metadata.version("sqlalchemy"),
        "disk": _disk(data_folder),
        "kernel": platform.release(),
    }


def _disk(folder: Path) -> str:
    try:
        out = subprocess.run(
            ["df", "--output=source,fstype,size", str(folder)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split("\n")[1]
    except (OSError, subprocess.CalledProcessError, IndexError):
        return "unknown"
    return " ".join(out.split())


def write_json(path: Path, rows: list[Row], about: dict[str, Any]) -> None:
    document = {**about, "rows": [row.as_json() for row in rows]}
    path.write_text(json.dumps(document, indent=2) + "\n")
