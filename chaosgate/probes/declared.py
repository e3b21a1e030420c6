"""The probes of a run: chaos.yaml's declared probes, setup and ledger writers, on top of the probe
plugin it names (if any). Declared ones are plain HTTP requests (chaosgate/probes/steps.py)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

from chaosgate.errors import Location, ProbeError, ReadBackBlind, ValidationError
from chaosgate.probes.base import Probe, ProbeContext, ProbeSetup
from chaosgate.probes.jsonpath import JsonPath, JsonPathError
from chaosgate.probes.outcome import PROBE_DETAIL, worst
from chaosgate.probes.plugin import LedgerWriter, ProbePlugin, load_plugin
from chaosgate.probes.steps import HttpRequest, Prepared, ReadBack, RequestStep, WriteRequest
from chaosgate.probes.template import WRITE_ID
from chaosgate.scoring import ProbeOutcome
from chaosgate.yamlio import load_yaml

if TYPE_CHECKING:
    from chaosgate.topology import Topology

READ_BACK_CONCURRENCY = 8  # per-item read-backs in flight at once: a recovering system is not flooded
REFUSED = frozenset({401, 403})  # a read-back refused for who it is (a lost session) cannot see any write


async def send(ctx: ProbeContext, prepared: Prepared) -> httpx.Response:
    """One rendered request through the gateway."""
    body: dict[str, Any] = {}
    if prepared.has_json:
        body["json"] = prepared.json
    elif prepared.content is not None:
        body["content"] = prepared.content
    return await ctx.http.request(prepared.method, prepared.path, headers=prepared.headers, **body)


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        raise JsonPathError(f"the answer is not JSON: {response.text[:80]!r}") from None


def _shown(request: HttpRequest) -> str:
    return f"{request.method} {request.path}"


@dataclass(frozen=True)
class StepsProbe:
    """A feature probe declared as steps: each sent in turn, a later one using what earlier ones
    captured. The first answer that is not expected ends the probe with its outcome; otherwise the
    worst outcome of the steps (a degraded step makes the probe degraded)."""

    steps: tuple[RequestStep, ...]

    async def __call__(self, ctx: ProbeContext) -> ProbeOutcome:
        values = dict(ctx.vars)
        outcomes: list[ProbeOutcome] = []
        for step in self.steps:
            response = await send(ctx, step.prepare(values))
            outcome = ctx.classify(response, expected=frozenset(step.expect_status))
            if not outcome.ok:
                return outcome
            outcomes.append(outcome)
            if step.capture:
                try:
                    values.update(step.captured(_json(response)))
                except JsonPathError as exc:
                    PROBE_DETAIL.set(f"{_shown(step)}: capture failed: {exc}"[:200])
                    return ProbeOutcome.ERROR
        return worst(outcomes)


async def run_setup(ctx: ProbeContext, steps: Sequence[RequestStep], *, key: str = "probes.setup") -> None:
    """Declared setup steps, once: what they capture goes into `ctx.vars` for every probe and writer.
    ProbeError names the step that failed (the runner retries setup while the system settles)."""
    for i, step in enumerate(steps):
        response = await send(ctx, step.prepare(ctx.vars))
        where = f"{key}[{i}] {_shown(step)}"
        if not step.expects(response.status_code):
            raise ProbeError(f"{where}: HTTP {response.status_code}: {response.text[:200]}")
        if step.capture:
            try:
                ctx.vars.update(step.captured(_json(response)))
            except JsonPathError as exc:
                raise ProbeError(f"{where}: capture failed: {exc}") from None


class DeclaredWriter:
    """A ledger writer declared in chaos.yaml: `write` once per id, `read_back` after recovery as a
    listing (one request, the ids its `ids` path finds) or per write id (kept when the status is in
    `found`; 429 and 5xx mean the system cannot tell yet, so the check retries; anything else: missing).

    A read-back that answers but cannot see raises ReadBackBlind ("cannot tell", not a loss): a listing
    whose path matches nothing in the answer, or that yields no id once durable writes were
    acknowledged; a per-id read-back that finds an id never written; either refused (401, 403)."""

    def __init__(self, name: str, write: WriteRequest, read_back: ReadBack, *, ephemeral: bool) -> None:
        self.name = name
        self.request = write
        self.back = read_back
        self.ephemeral = ephemeral
        self.ids: list[str] = []
        self.acknowledged = 0

    async def write(self, ctx: ProbeContext, write_id: str) -> bool:
        self.ids.append(write_id)
        response = await send(ctx, self.request.prepare({**ctx.vars, WRITE_ID: write_id}))
        acknowledged = self.request.acknowledges(response.status_code)
        self.acknowledged += acknowledged
        return acknowledged

    async def read_back(self, ctx: ProbeContext) -> set[str]:
        if self.back.ids is None:
            return await self._read_each(ctx)
        response = await send(ctx, self.back.prepare(ctx.vars))
        if response.status_code in REFUSED:
            raise ReadBackBlind(self._blind(f"answered HTTP {response.status_code}: not allowed to see"))
        if not 200 <= response.status_code < 300:
            raise ProbeError(self._failed(response))
        try:
            answer = _json(response)
        except JsonPathError as exc:
            raise ReadBackBlind(self._blind(str(exc))) from None
        return self._listed(self.back.ids, answer)

    def _listed(self, path: JsonPath, answer: Any) -> set[str]:
        found = path.find(answer)
        objects = [value for value in found if isinstance(value, dict | list)]
        if objects:
            raise ReadBackBlind(
                self._blind(f"{path} names {_shape(objects[0])}, not ids: point it at the id inside them")
            )
        ids = {str(value) for value in found if value is not None}
        if ids:
            return ids
        reach = path.reach(answer)
        if not reach.empty and reach.missing:  # a path that does not fit the answer: a typo, not data
            stops = "it" if reach.matched == "$" else f"{reach.matched} ({_shape(reach.values[0])})"
            why = f"{path} matches nothing in the answer: {stops} has no {reach.missing}; {_top(answer)}"
            raise ReadBackBlind(self._blind(why))
        # A durable writer keeps writing through recovery, so a system that kept anything lists some:
        # a listing that shows nothing cannot show what was lost. An ephemeral one stops before the
        # fault: every session gone (a store restarted empty) is a real loss there.
        if self.acknowledged and not self.ephemeral:
            why = f"the listing yielded no id ({path}), though {self.acknowledged} write(s) were acknowledged"
            raise ReadBackBlind(self._blind(why))
        return set()

    async def _read_each(self, ctx: ProbeContext) -> set[str]:
        found = frozenset(self.back.found or ())
        gate = asyncio.Semaphore(READ_BACK_CONCURRENCY)
        never = f"cg-never-written-{uuid.uuid4().hex[:8]}"

        async def kept(write_id: str) -> str | None:
            async with gate:
                response = await send(ctx, self.back.prepare({**ctx.vars, WRITE_ID: write_id}))
            if response.status_code in REFUSED:
                why = f"{write_id} answered HTTP {response.status_code}: not allowed to see"
                raise ReadBackBlind(self._blind(why))
            if response.status_code in found:
                return write_id
            if response.status_code == 429 or response.status_code >= 500:
                raise ProbeError(self._failed(response))
            return None

        # An id never written must read as missing, else a found answer proves nothing.
        answers = await asyncio.gather(kept(never), *(kept(w) for w in self.ids))
        if answers[0] is not None:
            raise ReadBackBlind(self._blind(f"{never}, never written, is found: it would find any id"))
        return {w for w in answers[1:] if w is not None}

    def _failed(self, response: httpx.Response) -> str:
        return (
            f"writer {self.name}: reading back {_shown(self.back)} answered HTTP {response.status_code}: "
            f"{response.text[:200]}"
        )

    def _blind(self, why: str) -> str:
        return f"writer {self.name}: reading back {_shown(self.back)}: {why}"


def _shape(value: Any) -> str:
    """A JSON value in a few words, for a message about what a path found."""
    if isinstance(value, dict):
        return f"an object with keys {_keys(value)}" if value else "an empty object"
    if isinstance(value, list):
        return f"a list of {len(value)}"
    return f"a {type(value).__name__}"


def _top(answer: Any) -> str:
    if isinstance(answer, dict) and answer:
        return f"the answer's top-level keys: {_keys(answer)}"
    return f"the answer is {_shape(answer)}"


def _keys(value: dict[Any, Any]) -> str:
    keys = sorted(str(key) for key in value)
    return ", ".join(keys[:12]) + (f" and {len(keys) - 12} more" if len(keys) > 12 else "")


@dataclass(frozen=True)
class DeclaredWriterFactory:
    """A fresh DeclaredWriter per scenario (the runner calls it); `ephemeral` is read before that."""

    name: str
    write: WriteRequest
    read_back: ReadBack
    ephemeral: bool = False

    def __call__(self) -> LedgerWriter:
        return DeclaredWriter(self.name, self.write, self.read_back, ephemeral=self.ephemeral)


def plugin_for(topology: Topology) -> ProbePlugin:
    """The probes, setup and writers of a run on this topology: the named plugin's (probes.plugin),
    with chaos.yaml's declared probes over them and its declared writers beside them. Every feature
    must be probed and every writer provided, else a ValidationError naming the key."""
    name = topology.probes.plugin
    named = load_plugin(name) if name else None
    probes: dict[str, Probe] = dict(named.probes) if named else {}
    for feature, spec in topology.features.items():
        if spec.probe is not None:
            probes[feature] = StepsProbe(tuple(spec.probe))
        elif feature not in probes:
            offered = f"probe plugin {name!r} has no flow for it" if name else "no probe plugin is named"
            raise ValidationError(
                f"feature {feature!r} has no probe: declare `probe:` (a request or a list of steps); "
                f"{offered}",
                _where(topology, "features", feature),
            )
    writers: dict[str, Callable[[], LedgerWriter]] = {}
    for writer, declared in topology.writers.items():
        if declared.write is not None and declared.read_back is not None:
            writers[writer] = DeclaredWriterFactory(
                writer, declared.write, declared.read_back, declared.ephemeral
            )
        elif named is not None and writer in named.writers:
            writers[writer] = named.writers[writer]
        else:
            offered = ", ".join(sorted(named.writers)) if named else ""
            raise ValidationError(
                f"writer {writer!r} declares no `write:`/`read_back:` and probe plugin {name!r} has no "
                f"writer of that name; its writers: {offered or 'none'}",
                _where(topology, "writers", writer),
            )
    return ProbePlugin(setup=_setup(topology, named), probes=probes, writers=writers)


def _setup(topology: Topology, named: ProbePlugin | None) -> ProbeSetup:
    settings = topology.probes

    async def setup(ctx: ProbeContext) -> None:
        """This system's degraded marker, then the plugin's setup, then the declared steps."""
        ctx.degraded_header = settings.degraded_header
        if named is not None:
            await named.setup(ctx)
        await run_setup(ctx, settings.setup)

    return setup


def _where(topology: Topology, *keys: str) -> Location:
    source = topology.source
    if source.is_file():
        return load_yaml(source).location(*keys)
    return Location(source, 0, ".".join(keys))
