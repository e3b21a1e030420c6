"""The library API every entry point calls: a plan from chaos.yaml and scenario names, and the one
factory that picks the stack for the topology's runtime."""

from __future__ import annotations

from pathlib import Path

import pytest

from chaosgate.api import plan_run, stack_for
from chaosgate.config import load_topology
from chaosgate.errors import ValidationError
from chaosgate.stack.compose_runtime import ComposeStack
from chaosgate.stack.launcher import LocalStack
from chaosgate.stack.remote import RemoteStack
from chaosgate.topology import Remote, Topology

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def local() -> Topology:
    return load_topology(ROOT / "chaos.yaml")


def test_a_plan_of_every_scenario_leaves_out_what_the_runtime_cannot_inject_and_names_it(
    local: Topology,
) -> None:
    plan = plan_run(local, [], run_all=True)

    assert plan.runtime == "local"
    assert "cassandra-disk-full" in plan.skipped  # a container fault
    assert "redis-down" in [s.name for s in plan.scenarios]
    assert not set(plan.skipped) & {s.name for s in plan.scenarios}
    assert [p.stem for p in plan.paths] == [s.name for s in plan.scenarios]


def test_a_named_scenario_the_runtime_cannot_inject_is_refused_at_its_key(local: Topology) -> None:
    with pytest.raises(ValidationError) as caught:
        plan_run(local, ["cassandra-disk-full"])

    assert caught.value.location is not None
    assert Path(caught.value.location.file).name == "cassandra-disk-full.yaml"
    assert caught.value.location.key == "faults[0].injector"


def test_names_and_all_together_are_refused(local: Topology) -> None:
    with pytest.raises(ValidationError, match="names or --all, not both"):
        plan_run(local, ["redis-down"], run_all=True)


def test_the_stack_follows_the_runtime(local: Topology, tmp_path: Path) -> None:
    composed = local.model_copy(update={"runtime": "compose"})
    remote = local.model_copy(update={"remote": Remote(host="127.0.0.1")})

    assert isinstance(stack_for(local, run_dir=tmp_path, profile="baseline"), LocalStack)
    assert isinstance(stack_for(composed, run_dir=tmp_path, profile="baseline"), ComposeStack)
    assert isinstance(stack_for(remote, run_dir=tmp_path, profile="baseline"), RemoteStack)
    assert stack_for(local, run_dir=tmp_path, profile="baseline").profile == "baseline"
