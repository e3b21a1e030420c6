"""Network partitions on the compose runtime: a container is disconnected from the stack's network(s)
and connected again, with the same aliases, on removal."""

from __future__ import annotations

from chaosgate.errors import FaultError
from chaosgate.injection import HandleData
from chaosgate.scenario.models import PartitionFault

from .containers import ContainerInjector, expect_silence, wire_for


class PartitionInjector(ContainerInjector[PartitionFault]):
    """Its peers' connections to it hang or fail and its compose name stops resolving, while it keeps
    running (its own health check still passes): a partition, not a crash. The networks and aliases it
    had are kept in the fault ledger, so the watchdog or the next run's sweep can reconnect it too."""

    name = "partition"
    fault = PartitionFault

    def apply(self, spec: PartitionFault, *, fault_id: str) -> HandleData:
        container = self.engine.container(spec.container)
        networks = self.engine.stack_networks(container)
        if not networks:
            raise FaultError(f"container {container.name} is on no network: nothing to cut it off from")
        kept: dict[str, list[str]] = {}
        for network_name, endpoint in networks.items():
            # The container id's own alias is added back by the engine; keep the others (the service name).
            aliases = [a for a in endpoint.get("Aliases") or [] if not container.id.startswith(a)]
            kept[network_name] = aliases
        for network_name in kept:
            self.engine.client.networks.get(network_name).disconnect(container)
        return {"container": container.id, "networks": kept}

    def verify(self, spec: PartitionFault, data: HandleData) -> str:
        container = self.engine.container(spec.container)
        left = set(self.engine.stack_networks(container)) & set(data["networks"])
        if left:
            raise FaultError(f"container {container.name} is still on {', '.join(sorted(left))}")
        what = f"container {container.name} ({container.status}) is off {', '.join(sorted(data['networks']))}"
        return expect_silence(wire_for(self.env, spec.container), what)

    def remove(self, spec: PartitionFault, data: HandleData) -> None:
        container = self.engine.container(spec.container)
        on = set(self.engine.stack_networks(container))
        networks: dict[str, list[str]] = data.get("networks") or {}
        for network_name, aliases in networks.items():
            if network_name not in on:
                self.engine.client.networks.get(network_name).connect(container, aliases=aliases or None)
