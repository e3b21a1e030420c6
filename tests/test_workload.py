"""The writer loop against a real HTTP shop (tests/probes/shop_app.py): what it counts lost and
recovered, per phase of the scenario by when each write was attempted, and a read-back that cannot
see (a typo in its path) reported as "cannot tell" instead of every acknowledged write lost."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path

import pytest
from probes.declared_support import SHOP_YAML, context, shop_topology
from probes.shop_app import Shop, serving

from chaosgate import workload
from chaosgate.probes.declared import plugin_for
from chaosgate.result import WRITER_PHASES, WriterPhaseRecord
from chaosgate.workload import WriterCheck, WriterLoop, phase_of

# The runner's windows on its scenario clock: the fault from t=4 to t=8.
WINDOWS = {"before": (2.0, 4.0), "fault": (4.0, 8.0), "recovery": (8.0, math.inf)}


async def written(loop: WriterLoop) -> None:
    """Every write of the loop (up to its limit), each answered."""
    loop.start()
    await asyncio.wait_for(loop.finish(), timeout=30)


async def run_writer(folder: Path, shop: Shop, *, text: str = SHOP_YAML, count: int = 25) -> WriterCheck:
    plugin = plugin_for(shop_topology(folder, text))
    async with serving(shop) as url, context(url) as ctx:
        await plugin.setup(ctx)
        loop = WriterLoop("orders", plugin.writers["orders"](), ctx, rate=500, limit=count)
        await written(loop)
        return await loop.check(timeout_s=10, windows=WINDOWS)


async def test_a_typo_in_the_read_back_path_cannot_tell_instead_of_losing_every_write(tmp_path: Path) -> None:
    # As a new user wrote it: `$.ref[*]` for the shop's `$.refs[*]`. The shop keeps every order.
    typo = SHOP_YAML.replace('ids: "$.items[*].id"', 'ids: "$.ref[*]"')

    checked = await run_writer(tmp_path, Shop(), text=typo)

    assert (checked.counts.attempted, checked.counts.acknowledged) == (25, 25)
    assert checked.counts.lost == 0, "not 25/25 lost: nothing anyone can show was lost"
    assert checked.lost_ids == [] and checked.recovered_ids == []
    assert "$.ref[*] matches nothing" in checked.cannot_tell
    assert "top-level keys: items, refs" in checked.cannot_tell


async def test_the_right_path_counts_what_the_shop_really_lost(tmp_path: Path) -> None:
    flat = SHOP_YAML.replace('ids: "$.items[*].id"', 'ids: "$.refs[*]"')

    checked = await run_writer(tmp_path, Shop(lose_every=5), text=flat)

    assert checked.cannot_tell == ""
    assert checked.counts.lost == 5
    assert [int(w.rsplit("-", 1)[1]) for w in checked.lost_ids] == [4, 9, 14, 19, 24]


class Ticks:
    """A scenario clock that reads t=0, 1, 2, ... one tick per call: the loop reads it once per
    attempt, just before sending, so each tick sets the shop up for the write it stamps."""

    def __init__(self, shop: Shop) -> None:
        self.shop = shop
        self.t = -1

    def __call__(self) -> float:
        self.t += 1
        self.shop.lose_every = 1 if self.t in (4, 5) else 0  # acknowledged, then dropped: lost
        self.shop.keep_unacknowledged = self.t in (6, 7)  # kept, answered 504: recovered
        return float(self.t)


async def test_each_write_counts_in_the_phase_it_was_attempted_in(tmp_path: Path) -> None:
    shop = Shop()
    plugin = plugin_for(shop_topology(tmp_path))
    async with serving(shop) as url, context(url) as ctx:
        await plugin.setup(ctx)
        loop = WriterLoop("orders", plugin.writers["orders"](), ctx, rate=500, limit=12, clock=Ticks(shop))
        await written(loop)
        checked = await loop.check(timeout_s=10, windows=WINDOWS)

    assert list(checked.phases) == list(WRITER_PHASES)
    # t=0 and t=1 come before every window: the nearest phase, `before`, takes them.
    assert checked.phases["before"] == WriterPhaseRecord(attempted=4, acknowledged=4, lost=0, recovered=0)
    assert checked.phases["fault"] == WriterPhaseRecord(attempted=4, acknowledged=2, lost=2, recovered=2)
    assert checked.phases["recovery"] == WriterPhaseRecord(attempted=4, acknowledged=4, lost=0, recovered=0)
    assert checked.lost_ids == [f"{loop.prefix}4", f"{loop.prefix}5"]
    assert checked.recovered_ids == [f"{loop.prefix}6", f"{loop.prefix}7"]
    assert (checked.counts.lost, checked.counts.recovered) == (2, 2)


async def test_lost_ids_are_capped_in_the_order_attempted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(workload, "ID_LIMIT", 5)  # result.json keeps at most ID_LIMIT ids (1000)

    checked = await run_writer(tmp_path, Shop(lose_every=2), count=14)  # keeps every other order

    assert checked.counts.lost == 7, "the count is every loss"
    prefix = checked.lost_ids[0].rsplit("-", 1)[0]
    assert checked.lost_ids == [f"{prefix}-{n}" for n in (1, 3, 5, 7, 9)], "the ids, the first five"


async def test_a_read_back_that_keeps_failing_still_counts_every_acknowledged_write_lost(
    tmp_path: Path,
) -> None:
    shop = Shop()
    plugin = plugin_for(shop_topology(tmp_path))
    async with serving(shop) as url, context(url) as ctx:
        await plugin.setup(ctx)
        loop = WriterLoop("orders", plugin.writers["orders"](), ctx, rate=500, limit=6)
        await written(loop)
        shop.down = True  # answers, but only 503s: it cannot tell yet, so the loop retries
        checked = await loop.check(timeout_s=1.5, windows=WINDOWS)

    assert checked.counts.lost == 6 and checked.cannot_tell == ""
    assert "answered HTTP 503" in loop.read_error


def test_a_write_outside_every_window_goes_to_the_nearest_phase() -> None:
    windows = {"before": (1.0, 2.0), "fault": (3.0, 4.0), "recovery": (5.0, 6.0)}
    assert [phase_of(t, windows) for t in (0.0, 1.5, 2.4, 2.6, 3.0, 4.9, 9.0)] == [
        "before", "before", "before", "fault", "fault", "recovery", "recovery",
    ]  # fmt: skip
