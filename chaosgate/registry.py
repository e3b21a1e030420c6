"""The injector registry: every injector available here, by the `injector:` name scenarios use.

chaosgate's own injectors and other packages' plugins register the same way, under the entry point
group `chaosgate.injectors` (chaosgate's in its pyproject.toml). An entry point names an Injector
subclass (chaosgate/injection.py): `name`, `fault` (its pydantic fault model, a FaultBase with
`injector: Literal[name]`) and apply / verify / remove. Scenario files and the fault ledger validate
a plugin's faults with its model, as they do the built-in ones; examples/injector-plugin is one.

    [project.entry-points."chaosgate.injectors"]
    file = "chaosgate_file_injector:FileInjector"

Entry points are read when asked for, never at import: nothing is cached between calls.
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Mapping
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from chaosgate.errors import Problem, ValidationError
from chaosgate.injection import FaultEnvironment, Injector
from chaosgate.scenario.models import BUILTIN_INJECTORS, FaultBase

ENTRY_POINT_GROUP = "chaosgate.injectors"
OWN = "chaosgate.injectors."  # where chaosgate's own injectors live (their entry points' values)

InjectorFactory = Callable[[FaultEnvironment], Injector[Any]]


def registered_injectors() -> dict[str, type[Injector[Any]]]:
    """Every registered injector, chaosgate's and the plugins', by name. One that does not load,
    does not fit the interface or takes another's name is a ValidationError naming its entry point
    (all at once)."""
    found: dict[str, type[Injector[Any]]] = {}
    values: dict[str, str] = {}
    problems: list[Problem] = []
    for point in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda p: not p.value.startswith(OWN)):
        if values.get(point.name) == point.value:
            continue  # the same distribution seen twice on sys.path (an editable install, say)
        where = f"injector plugin {point.name!r} ({point.value}, entry point group {ENTRY_POINT_GROUP})"
        if point.name in values:
            taken = (
                f"{point.name!r} is a built-in injector; a plugin needs a name of its own"
                if values[point.name].startswith(OWN)
                else f"{point.name!r} is also registered as {values[point.name]}"
            )
            problems.append(Problem(f"{where}: {taken}"))
            continue
        values[point.name] = point.value
        loaded = _load(point)
        if isinstance(loaded, str):
            problems.append(Problem(f"{where}: {loaded}"))
            continue
        problem = _misfit(point.name, loaded)
        if problem is not None:
            problems.append(Problem(f"{where}: {problem}"))
            continue
        found[point.name] = loaded
    if problems:
        raise ValidationError.of(problems)
    return found


def builtin_injectors() -> dict[str, type[Injector[Any]]]:
    """The injectors chaosgate ships (their fault models are part of the scenario schema)."""
    return {name: cls for name, cls in registered_injectors().items() if name in BUILTIN_INJECTORS}


def plugin_injectors() -> dict[str, type[Injector[Any]]]:
    """Every installed injector plugin, by the `injector:` name scenarios use."""
    return {name: cls for name, cls in registered_injectors().items() if name not in BUILTIN_INJECTORS}


def default_injectors() -> Mapping[str, InjectorFactory]:
    """Every injector available here: chaosgate's own and the installed plugins'."""
    return registered_injectors()


def plugin_faults() -> dict[str, type[FaultBase]]:
    """The fault model of every installed injector plugin, by injector name."""
    return {name: cls.fault for name, cls in plugin_injectors().items()}


def _load(point: EntryPoint) -> Any:
    try:
        return point.load()
    except Exception as exc:  # a plugin's import error is the plugin's, not ours: say which one
        return f"does not load ({type(exc).__name__}: {exc})"


def _misfit(name: str, cls: Any) -> str | None:
    """What keeps `cls` from being the injector `name`, or None when it fits."""
    if not (isinstance(cls, type) and issubclass(cls, Injector)):
        return "the entry point must name a subclass of chaosgate.injection.Injector"
    if getattr(cls, "name", None) != name:
        return f"its class says name = {getattr(cls, 'name', None)!r}; the entry point and `name` must agree"
    model = getattr(cls, "fault", None)
    if not (isinstance(model, type) and issubclass(model, FaultBase)):
        return "its `fault` must be a pydantic model derived from chaosgate.scenario.models.FaultBase"
    field = model.model_fields.get("injector")
    literal = field.annotation if field is not None else None
    if typing.get_origin(literal) is not typing.Literal or typing.get_args(literal) != (name,):
        return f"its fault model {model.__name__} must declare `injector: Literal[{name!r}]`"
    return None
