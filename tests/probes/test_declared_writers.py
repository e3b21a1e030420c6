"""Ledger writers declared in chaos.yaml, against a real HTTP shop that loses some acknowledged
orders: the runner's own writer loop counts what was lost, read back as a listing or per write id,
and a shop that cannot answer the read-back is retried, not taken for an empty one."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from declared_support import context, shop_topology
from shop_app import Shop, serving

from chaosgate.errors import ProbeError
from chaosgate.probes.declared import plugin_for
from chaosgate.workload import WriterLoop

WRITES = 12


@pytest.mark.parametrize("writer", ["orders", "orders.each"], ids=["listing", "per-write-id"])
async def test_acknowledged_orders_the_shop_did_not_keep_are_counted_lost(
    tmp_path: Path, writer: str
) -> None:
    shop = Shop(lose_every=4)  # acknowledges every order, keeps three in four
    plugin = plugin_for(shop_topology(tmp_path))
    async with serving(shop) as url, context(url) as ctx:
        await plugin.setup(ctx)
        loop = WriterLoop(writer, plugin.writers[writer](), ctx, rate=200, limit=WRITES)
        loop.start()
        while len(loop.acknowledged) < WRITES:  # the shop acknowledges every order
            await asyncio.sleep(0.02)
        await loop.stop()
        counts = await loop.check(timeout_s=5)

    assert (counts.attempted, counts.acknowledged) == (WRITES, WRITES)
    assert counts.lost == WRITES // 4  # exactly the ones the shop dropped
    assert counts.recovered == counts.unexpected == 0
    assert not counts.ephemeral
    creates = [body for method, path, _, body in shop.seen if (method, path) == ("POST", "/orders")]
    assert {body["id"] for body in creates} == loop.attempted  # ${write_id} in the JSON body


async def test_a_shop_that_cannot_answer_the_read_back_is_not_an_empty_one(tmp_path: Path) -> None:
    plugin = plugin_for(shop_topology(tmp_path))
    shop = Shop()
    async with serving(shop) as url, context(url) as ctx:
        await plugin.setup(ctx)
        for name in ("orders", "orders.each"):
            writer = plugin.writers[name]()
            assert await writer.write(ctx, f"{name}-1")
            shop.down = True
            with pytest.raises(ProbeError, match="answered HTTP 503"):
                await writer.read_back(ctx)  # the writer loop retries this until its deadline
            shop.down = False
            assert await writer.read_back(ctx) >= {f"{name}-1"}


async def test_writes_that_were_not_acknowledged_are_not_counted_lost(tmp_path: Path) -> None:
    plugin = plugin_for(shop_topology(tmp_path))
    shop = Shop()
    async with serving(shop) as url, context(url) as ctx:
        await plugin.setup(ctx)
        writer = plugin.writers["orders.each"]()
        shop.down = True
        assert not await writer.write(ctx, "refused-1")  # 503: not in acknowledged (any 2xx)
        shop.down = False
        assert await writer.write(ctx, "kept-1")
        assert await writer.read_back(ctx) == {"kept-1"}
