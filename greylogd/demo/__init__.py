"""A seeded simulated mail week: demo data, benchmark data and the report's test world.

`build_world(out_dir, seed=..., connections=...)` writes kern.log, greyd.log, greyd's SQLite database,
greylogd's ledger and the ground truth; `python -m greylogd.demo OUT_DIR` does the same from a shell;
`open_world(out_dir)` reopens a world written earlier.
"""

from greylogd.demo.params import GreyParams
from greylogd.demo.world import World, build_world, open_world

__all__ = ["GreyParams", "World", "build_world", "open_world"]
