"""Network degradation on the compose runtime: netem on a container's interface in the stack's network
(what it sends is delayed with jitter, dropped, corrupted, duplicated or rate-capped), set with `tc` run
in the container's network namespace from this host (`nsenter -t PID -n tc ...`).

A kernel built without netem (CONFIG_NET_SCH_NETEM, e.g. some microVM kernels) still gets loss and rate:
loss as a random-drop iptables rule on the interface's output, rate as a token bucket (tbf). Delay,
corruption and duplication need netem, and such a fault says so when it is applied."""

from __future__ import annotations

import shutil
import statistics
import subprocess
from typing import Any, ClassVar

from chaosgate.errors import FaultError
from chaosgate.injection import FaultEnvironment, HandleData, Runtime
from chaosgate.scenario.models import NetemFault

from .containers import ContainerInjector, wire_for

TC_TIMEOUT_S = 10.0
RTT_SAMPLES = 3
NO_NETEM = "Specified qdisc kind is unknown"
RULE_COMMENT = "chaosgate-{fault_id}"


def netem_args(spec: NetemFault) -> list[str]:
    """The netem options of a fault, as `tc qdisc ... netem` takes them."""
    args: list[str] = []
    if spec.delay_ms:
        args += ["delay", f"{spec.delay_ms}ms"] + ([f"{spec.jitter_ms}ms"] if spec.jitter_ms else [])
    for name in ("loss", "corrupt", "duplicate"):
        value = getattr(spec, name)
        if value:
            args += [name, f"{value:g}%"]
    if spec.rate_kbit:
        args += ["rate", f"{spec.rate_kbit}kbit"]
    return args


class NetemInjector(ContainerInjector[NetemFault]):
    """Replaces the root qdisc of the container's interface with netem; removal deletes it (a container
    restarted meanwhile has a new interface without it). Needs the engine on this host and root."""

    name = "netem"
    fault = NetemFault
    runtimes: ClassVar[frozenset[Runtime]] = frozenset({"compose"})

    def __init__(self, env: FaultEnvironment) -> None:
        super().__init__(env)
        self.nsenter = shutil.which("nsenter")
        self.tc = shutil.which("tc") or shutil.which("/usr/sbin/tc") or shutil.which("/sbin/tc")
        if self.nsenter is None or self.tc is None:
            self.engine.close()
            raise FaultError(
                "netem faults run `nsenter` and `tc` on this host: apt-get install util-linux iproute2"
            )

    def _in_netns(self, pid: int, *argv: str) -> subprocess.CompletedProcess[str]:
        assert self.nsenter is not None and self.tc is not None
        command = [self.nsenter, "-t", str(pid), "-n", *argv]
        try:
            return subprocess.run(command, capture_output=True, text=True, timeout=TC_TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired:
            raise FaultError(f"`{' '.join(command)}` gave no answer within {TC_TIMEOUT_S:g}s") from None

    def _interface(self, pid: int, address: str) -> str:
        """The interface that holds the container's address in the stack's network."""
        assert self.tc is not None
        ip = shutil.which("ip") or "/usr/sbin/ip"
        shown = self._in_netns(pid, ip, "-o", "-4", "addr", "show")
        for line in shown.stdout.splitlines():
            fields = line.split()
            if len(fields) > 3 and fields[3].split("/")[0] == address:
                return fields[1].split("@")[0]
        raise FaultError(
            f"no interface holds {address} in the container's network namespace: {shown.stdout.strip()}"
        )

    def apply(self, spec: NetemFault, *, fault_id: str) -> HandleData:
        container = self.engine.container(spec.container)
        pid = self.engine.pid(container)
        networks = self.engine.stack_networks(container)
        address = next((n.get("IPAddress") for n in networks.values() if n.get("IPAddress")), None)
        if not address:
            raise FaultError(f"container {container.name} has no address on a network: nothing to degrade")
        interface = self._interface(pid, address)
        assert self.tc is not None
        data: HandleData = {"container": container.id, "pid": pid, "interface": interface, "netem": True}
        done = self._in_netns(
            pid, self.tc, "qdisc", "replace", "dev", interface, "root", "netem", *netem_args(spec)
        )
        if done.returncode != 0 and NO_NETEM in done.stderr:
            return self._without_netem(spec, data, fault_id)
        if done.returncode != 0:
            raise FaultError(
                f"tc could not set netem on {interface} of {container.name}: {done.stderr.strip()}"
            )
        return data

    def _without_netem(self, spec: NetemFault, data: HandleData, fault_id: str) -> HandleData:
        """Loss and rate on a kernel without netem; anything else is refused, naming the kernel option."""
        assert self.tc is not None
        missing = [n for n in ("delay_ms", "corrupt", "duplicate") if getattr(spec, n)]
        if missing:
            raise FaultError(
                f"this kernel has no netem qdisc (CONFIG_NET_SCH_NETEM), which {', '.join(missing)} need; "
                "loss and rate_kbit work without it (a random-drop iptables rule, a token bucket)"
            )
        pid, interface = int(data["pid"]), str(data["interface"])
        data = {**data, "netem": False}
        if spec.rate_kbit:
            tbf = ["tbf", "rate", f"{spec.rate_kbit}kbit", "burst", "32kbit", "latency", "400ms"]
            done = self._in_netns(pid, self.tc, "qdisc", "replace", "dev", interface, "root", *tbf)
            if done.returncode != 0:
                raise FaultError(f"tc could not cap the rate of {interface}: {done.stderr.strip()}")
            data["qdisc"] = "tbf"
        if spec.loss:
            comment = RULE_COMMENT.format(fault_id=fault_id)
            done = self._iptables(pid, "-I", *self._loss_rule(interface, spec.loss, comment))
            if done.returncode != 0:
                raise FaultError(
                    f"iptables could not drop {spec.loss:g}% on {interface}: {done.stderr.strip()}"
                )
            data["rule"] = comment
        return data

    @staticmethod
    def _loss_rule(interface: str, loss: float, comment: str) -> list[str]:
        return [
            "OUTPUT", "-o", interface, "-m", "statistic", "--mode", "random", "--probability",
            f"{loss / 100:.4f}", "-m", "comment", "--comment", comment, "-j", "DROP",
        ]  # fmt: skip

    def _iptables(self, pid: int, *args: str) -> subprocess.CompletedProcess[str]:
        iptables = shutil.which("iptables") or "/usr/sbin/iptables"
        return self._in_netns(pid, iptables, "-w", "5", *args)

    def verify(self, spec: NetemFault, data: HandleData) -> str:
        assert self.tc is not None
        pid, interface = int(data["pid"]), str(data["interface"])
        shown = self._in_netns(pid, self.tc, "qdisc", "show", "dev", interface)
        kind = "netem" if data.get("netem", True) else data.get("qdisc")
        qdisc = next((line.strip() for line in shown.stdout.splitlines() if kind and kind in line), None)
        if kind and qdisc is None:
            raise FaultError(f"no {kind} qdisc on {interface} of {spec.container}: {shown.stdout.strip()}")
        evidence = f"{spec.container} {interface}: {qdisc or 'no qdisc change'}"
        wire = wire_for(self.env, spec.container)
        if data.get("rule"):
            evidence += "; " + self._dropped(pid, str(data["rule"]), wire)
        if wire is None or not spec.delay_ms:
            return evidence
        # The handshake's answer leaves through the degraded interface: the delay shows in its time.
        times = [wire.ask(timeout=2.0 + 2 * spec.delay_ms / 1000) for _ in range(RTT_SAMPLES)]
        answered = [seconds for ok, _, seconds in times if ok]
        if not answered:
            return f"{evidence}; {wire.describe()} did not answer ({times[-1][1]})"
        median_ms = statistics.median(answered) * 1000
        if median_ms < 0.5 * spec.delay_ms:
            raise FaultError(f"{evidence}, yet {wire.describe()} answers in {median_ms:.0f} ms")
        return f"{evidence}; {wire.describe()} answers in {median_ms:.0f} ms (median of {len(answered)})"

    def _dropped(self, pid: int, rule: str, wire: Any) -> str:
        """The drop rule's packet counter after a few exchanges with the container (they cross it)."""
        for _ in range(10 if wire is not None else 0):
            wire.ask(timeout=0.3)
        listed = self._iptables(pid, "-L", "OUTPUT", "-v", "-n", "-x")
        line = next((row.split() for row in listed.stdout.splitlines() if rule in row), None)
        if line is None:
            raise FaultError(f"the drop rule {rule} is not in the container's OUTPUT chain")
        return f"iptables drop rule {rule}: {line[0]} packets dropped so far"

    def remove(self, spec: NetemFault, data: HandleData) -> None:
        container = self.engine.container(spec.container)
        container.reload()
        pid = int(container.attrs["State"].get("Pid") or 0)
        if container.status != "running" or pid != int(data.get("pid", 0)):
            return  # stopped or restarted: its old interface, and the qdisc on it, are gone
        assert self.tc is not None
        interface = str(data["interface"])
        rule = data.get("rule")
        for _ in range(5 if rule else 0):  # one rule per fault; a few tries cover a repeated insert
            listed = self._iptables(pid, "-S", "OUTPUT").stdout
            if str(rule) not in listed:
                break
            self._iptables(pid, "-D", *self._loss_rule(interface, spec.loss, str(rule)))
        kind = "netem" if data.get("netem", True) else data.get("qdisc")
        if not kind:
            return
        done = self._in_netns(pid, self.tc, "qdisc", "del", "dev", interface, "root")
        if (
            done.returncode != 0
            and kind in self._in_netns(pid, self.tc, "qdisc", "show", "dev", interface).stdout
        ):
            raise FaultError(
                f"tc could not remove {kind} from {interface} of {container.name}: {done.stderr.strip()}"
            )
