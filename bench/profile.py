"""Where the time goes: emit's side of W1 or W2 under pyinstrument, or of W1c under py-spy.

    bench/.peer-venv/bin/python -m bench.profile W1     # or W2

prints pyinstrument's call tree (time per function, including waiting on the disk). W1c runs 16
threads, which pyinstrument does not follow; py-spy, also in the benchmark's environment, samples
them all:

    bench/.peer-venv/bin/py-spy record -o w1c.svg -- \
        bench/.peer-venv/bin/python -m bench.profile W1c
"""

from __future__ import annotations

import sys

from pyinstrument import Profiler

from bench import commands, replay
from bench.databases import Workspace
from bench.workload import Commands


def main() -> None:
    scenario = (sys.argv[1] if len(sys.argv) > 1 else "W1").upper()
    workspace = Workspace()
    try:
        url = f"sqlite:///{workspace.sqlite_path('profile')}"
        profiler = Profiler(interval=0.0002)
        if scenario in ("W1", "W1C"):
            threads = 16 if scenario == "W1C" else 1
            side = commands.EmitSide(url, Commands(100, 10_000), threads, slices=1)
            side.prepare()
            profiler.start()
            side.run_slice(0)
            profiler.stop()
            side.finish()
        elif scenario == "W2":
            replay.emit_build(url, 10_000)
            profiler.start()
            replay.race({"emit": replay.emit_cold_load(url, 10_000, snapshots=False)}, 5)
            profiler.stop()
        else:
            raise SystemExit(f"unknown scenario {scenario!r}: W1, W1c or W2")
        print(profiler.output_text(unicode=True, show_all=False))
    finally:
        workspace.close()


if __name__ == "__main__":
    main()
