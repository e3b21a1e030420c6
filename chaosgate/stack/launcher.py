"""LocalStack: the root object of a local stack (stores, fault proxy, services): up, status, down."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Collection, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from chaosgate.injection import FaultEnvironment
from chaosgate.service_env import ServiceContext, render, templates
from chaosgate.stack.events import Observer, StackEvent, StackPhase
from chaosgate.stack.handover import format_switches, kept_secret
from chaosgate.stack.ports import require_free_ports
from chaosgate.stack.processes import ProcessKind, ProcessRecord, ProcessTable, StackState
from chaosgate.stack.readiness import not_up, populate_proxy, wait_ready
from chaosgate.stack.status import PROXY, StackStatus, collect
from chaosgate.stack.stores import StoreBackend, backend_for
from chaosgate.topology import LOOPBACK, Topology


class LocalStack:
    """One local stack in one run dir. Every process it starts is recorded in `<run-dir>/state.json`."""

    def __init__(
        self,
        topology: Topology,
        *,
        run_dir: Path | str | None = None,
        profile: str | None = None,
        switches: Mapping[str, bool] | None = None,
        services: Collection[str] | None = None,
        service_env: Mapping[str, str] | None = None,
        python: str = sys.executable,
        health_timeout: float = 30.0,
        grace: float = 10.0,
        observer: Observer | None = None,
    ) -> None:
        profile = profile or topology.profile
        if profile not in topology.profiles:
            raise ValueError(f"profile must be one of {', '.join(topology.profiles)}, not {profile!r}")
        self.topology = topology
        self.run_dir = Path(run_dir if run_dir is not None else topology.default_run_dir()).resolve()
        self.profile: str = profile
        self.switches = dict(switches or {})
        self.service_env = dict(service_env or {})
        self.python = python
        self.health_timeout = health_timeout
        self.grace = grace
        self._observer = observer
        self.table = ProcessTable(self.run_dir)
        self.services = self._select_services(services)

    def _select_services(self, services: Collection[str] | None) -> list[str]:
        if services is None:
            return self.topology.start_order()
        chosen = set(services)
        for name in chosen:
            if name not in self.topology.services:
                raise ValueError(f"no service named {name!r}")
            missing = [d for d in self.topology.services[name].links if d in self.topology.services]
            missing = [d for d in missing if d not in chosen]
            if missing:
                raise ValueError(f"service {name!r} needs {', '.join(missing)}, which are not selected")
        return [name for name in self.topology.start_order() if name in chosen]

    # -- addresses ---------------------------------------------------------------------------------

    @property
    def gateway_url(self) -> str:
        return self.url_of(self.topology.gateway)

    @property
    def proxy_api_url(self) -> str:
        return self.topology.proxy_api_url()

    def backends(self) -> dict[str, str]:
        """What stands in each store's role: the server this stack started for it."""
        return {
            self.topology.role_of(name): f"{backend.backend()}, a local process"
            for name, backend in self._backends().items()
        }

    def fault_environment(self) -> FaultEnvironment:
        """Injectors may reach this stack's addresses and signal its service processes."""
        return FaultEnvironment(
            topology=self.topology, proxy_api_url=self.proxy_api_url, gateway_url=self.gateway_url, stack=self
        )

    def url_of(self, component: str, *, via_proxy: bool = False) -> str:
        """A URL for a service (http), a store (redis:// or postgresql://) or `proxy` (its API).

        `via_proxy=True` gives the address through the fault proxy (the link of the same name)."""
        if component == PROXY:
            return self.proxy_api_url
        if via_proxy:
            address = self.topology.link_address(component)
        else:
            address = f"{LOOPBACK}:{self.topology.component_port(component)}"
        if component in self.topology.stores:
            return self.topology.store_url(component, address=address)
        return f"http://{address}"

    def pid_of(self, name: str) -> int | None:
        """The pid of a running component (service, store or `proxy`), None when it is not running.

        Read from state.json each time: another process (a run's rollback, its watchdog) may have
        restarted the component since this object last looked."""
        self.table.reload()  # state.json is replaced atomically: a read needs no lock
        record = self.table.record(name)
        if record is None or not self.table.is_alive(record):
            return None
        return record.pid

    def pids(self) -> list[int]:
        """Every live process of the stack, children included."""
        return self.table.pids()

    def process_ids(self) -> list[int] | None:
        self.table.reload()  # a stack another run started and left up is this stack too
        return self.pids()

    # -- up ------------------------------------------------------------------------------------------

    def is_up(self) -> bool:
        """True when a completed `up` left every component alive (the process table says so)."""
        state = self.table.state
        if not state.complete:
            return False
        names = [*self.topology.stores, PROXY, *self.services]
        return all(self.table.alive(name) for name in names)

    def up(self) -> bool:
        """Start everything and wait until healthy. False (and nothing touched) if already up; then
        `profile` and `switches` are set to those of the running stack, which is not switched."""
        with self.table.locked():
            self.table.reload()
            if self.is_up():
                state = self.table.state
                detail = f"profile {state.profile}" + (
                    f", switches {format_switches(state.switches)}" if state.switches else ""
                )
                self._emit("stack", StackPhase.RUNNING, detail)
                self.profile, self.switches = state.profile, dict(state.switches)
                return False
            self._sweep()
            require_free_ports(self.topology, self.services)
            self.table.state = StackState(profile=self.profile, switches=self.switches)
            self.table.save()
            try:
                self._prepare_run_dir()
                self._start_stores()
                self._start_proxy()
                self._start_services(self.services)
            except BaseException:
                # Leave nothing half-started behind; the logs stay in the run dir.
                with contextlib.suppress(Exception):
                    self.table.sweep(grace=2.0)
                raise
            self.table.state.complete = True
            self.table.save()
            return True

    def _sweep(self) -> None:
        self._emit("stack", StackPhase.SWEEPING)
        for leftover in self.table.sweep(grace=self.grace):
            self._emit(leftover, StackPhase.STOPPED, "leftover from an earlier run")

    def _prepare_run_dir(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            # The PostgreSQL servers run unprivileged and must traverse into their data dirs.
            self.run_dir.chmod(0o755)
        (self.run_dir / "proxies.json").write_text(
            json.dumps(self.topology.proxies_config(), indent=2), encoding="utf-8"
        )

    def secret(self, name: str) -> str:
        """The stack's secret `name` (`{secret:NAME}` in chaos.yaml): made once, kept in the run dir so
        restarts keep what was signed with it."""
        return kept_secret(self.run_dir, name)

    def _backends(self) -> dict[str, StoreBackend]:
        return {name: backend_for(name, store, self.run_dir) for name, store in self.topology.stores.items()}

    def _start_stores(self) -> None:
        backends = self._backends()
        deadline = time.monotonic() + self.health_timeout

        def start(name: str, backend: StoreBackend) -> None:
            self._emit(name, StackPhase.STARTING, backend.backend())
            backend.start(self.table)
            backend.wait_ready(self.table, deadline=deadline)
            self._emit(name, StackPhase.READY, self.url_of(name))

        # In parallel: initdb and the first start of PostgreSQL take about a second each.
        with ThreadPoolExecutor(max_workers=len(backends) or 1, thread_name_prefix="store") as pool:
            futures = [pool.submit(start, name, backend) for name, backend in backends.items()]
            for future in futures:
                future.result()

    def _start_proxy(self) -> None:
        self._emit(PROXY, StackPhase.STARTING, "chaosgate proxy serve")
        argv = [
            self.python, "-m", "chaosgate", "proxy", "serve",
            "--host", LOOPBACK,
            "--port", str(self.topology.proxy_port()),
            "--config", str(self.run_dir / "proxies.json"),
        ]  # fmt: skip
        record = self.table.spawn(PROXY, argv, kind=ProcessKind.PROXY, port=self.topology.proxy_port())
        deadline = time.monotonic() + self.health_timeout
        wanted = {p["name"]: p for p in self.topology.proxies_config()}

        def alive() -> None:
            self._check_alive(PROXY, record)

        populate_proxy(self.proxy_api_url, wanted, deadline=deadline, alive=alive, record=record)
        self._emit(PROXY, StackPhase.READY, f"{self.proxy_api_url} ({len(wanted)} proxies)")

    def _service_environment(self, name: str) -> dict[str, str]:
        """This process's environment, the caller's `service_env`, then chaos.yaml's (filled in)."""
        context = self._context(name)
        templated = templates(self.topology.service_defaults.env, self.topology.services[name].env)
        return {**os.environ, **self.service_env, **{k: render(v, context) for k, v in templated.items()}}

    def _context(self, name: str) -> ServiceContext:
        return ServiceContext(
            service=name,
            host=LOOPBACK,
            port=self.topology.services[name].port,
            profile=self.profile,
            switches=format_switches(self.switches),
            run_dir=str(self.run_dir),
            secret=self.secret,
            link=self.topology.link_address,
        )

    def _start_services(self, names: Collection[str]) -> None:
        for level in self.topology.start_levels():
            wave = [name for name in level if name in names]
            for name in wave:
                self._emit(name, StackPhase.STARTING, f"profile {self.profile}")
                argv = self.topology.service_command(name, python=self.python)
                self.table.spawn(
                    name,
                    argv,
                    kind=ProcessKind.SERVICE,
                    env=self._service_environment(name),
                    port=self.topology.services[name].port,
                )
            deadline = time.monotonic() + self.health_timeout
            for name in wave:
                self._wait_healthy(name, deadline)
                self._emit(name, StackPhase.READY, self.url_of(name))

    def _wait_healthy(self, name: str, deadline: float) -> None:
        record = self.table.record(name)
        assert record is not None
        url = self.url_of(name) + self.topology.service_defaults.ready
        wait_ready(
            name,
            url,
            deadline=deadline,
            budget_s=self.health_timeout,
            alive=lambda: self._check_alive(name, record),
            record=record,
        )

    def _check_alive(self, name: str, record: ProcessRecord) -> None:
        if not self.table.is_alive(record):
            raise not_up(name, "the process exited", record)

    # -- services only -------------------------------------------------------------------------------

    def restart_services(
        self,
        *,
        profile: str | None = None,
        switches: Mapping[str, bool] | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        """Restart only the services, with a new profile/switches/env; stores and proxy keep running."""
        if profile is not None and profile not in self.topology.profiles:
            raise ValueError(f"profile must be one of {', '.join(self.topology.profiles)}, not {profile!r}")
        with self.table.locked():
            self.table.reload()
            self._stop_services(self.services)
            if profile is not None:
                self.profile = profile
            if switches is not None:
                self.switches = dict(switches)
            if env is not None:
                self.service_env = dict(env)
            self.table.state.profile, self.table.state.switches = self.profile, self.switches
            self.table.save()
            self._start_services(self.services)

    def restart_service(self, name: str) -> None:
        """Stop and start one service with the current profile (e.g. after `kill_service`)."""
        self._require_service(name)
        self.restart([name])

    def restart(self, services: list[str]) -> list[str]:
        """RunningStack.restart: each named service of this stack, stopped and started again."""
        chosen = [name for name in services if name in self.services]
        with self.table.locked():
            self.table.reload()
            self._stop_services(chosen)
            self._start_services(chosen)
        return chosen

    def start_service(self, name: str) -> None:
        """Start a service that is not running (after `kill_service`), without touching the others."""
        self._require_service(name)
        with self.table.locked():
            self.table.reload()
            if not self.table.alive(name):
                self.table.stop(name, grace=0)
                self._start_services([name])

    def kill_service(self, name: str) -> None:
        """SIGKILL a service's process group, as a crash would; it stays down until restarted."""
        self._require_service(name)
        self.table.kill(name)

    def _require_service(self, name: str) -> None:
        if name not in self.services:
            raise ValueError(f"no running service named {name!r}; services: {', '.join(self.services)}")

    def _stop_services(self, names: Collection[str]) -> None:
        for name in reversed(self.topology.start_order()):
            if name in names:
                self._stop(name)

    def _stop(self, name: str) -> None:
        self._emit(name, StackPhase.STOPPING)
        self.table.stop(name, grace=self.grace)
        self._emit(name, StackPhase.STOPPED)

    # -- down ----------------------------------------------------------------------------------------

    def down(self) -> list[str]:
        """Stop everything this run dir started, services first; returns what was running."""
        with self.table.locked():
            self.table.reload()
            running = [name for name, rec in self.table.state.processes.items() if self.table.is_alive(rec)]
            order = [*reversed(self.topology.start_order()), PROXY, *self.topology.stores]
            order += [name for name in self.table.state.processes if name not in order]
            for name in order:
                if self.table.record(name) is not None:
                    self._stop(name)
            for leftover in self.table.sweep(grace=self.grace):
                running.append(leftover)
                self._emit(leftover, StackPhase.STOPPED, "leftover")
            return running

    # -- status --------------------------------------------------------------------------------------

    def status(self) -> StackStatus:
        """Each component's process and health, and the proxies as the proxy API lists them."""
        self.table.reload()
        state = self.table.state
        components, proxies = collect(
            self.topology,
            self._backends(),
            services=self.services,
            pid_of=self.pid_of,
            url_of=self.url_of,
            api_url=self.proxy_api_url,
            python=self.python,
        )
        return StackStatus(
            run_dir=str(self.run_dir),
            profile=state.profile,
            switches=state.switches,
            up=state.complete and all(c.alive and c.healthy for c in components),
            gateway_url=self.gateway_url,
            proxy_api_url=self.proxy_api_url,
            components=components,
            proxies=proxies,
        )

    # -- helpers ---------------------------------------------------------------------------------------

    def _emit(self, component: str, phase: StackPhase, detail: str = "") -> None:
        if self._observer is None:
            return
        # An observer is a display: a bug in it must not break starting or stopping the stack.
        with contextlib.suppress(Exception):
            self._observer(StackEvent(component, phase, detail))

    def rss_bytes(self) -> int:
        """Resident memory of every process of the stack, children included."""
        return self.table.rss_bytes()
