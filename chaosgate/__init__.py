"""chaosgate: break a service stack on purpose and measure how ready it is."""

from chaosgate.errors import (
    ChaosgateError,
    FaultError,
    Interrupted,
    ProbeError,
    RunError,
    StackError,
    ValidationError,
)

__version__ = "0.1.0"

__all__ = [
    "ChaosgateError",
    "FaultError",
    "Interrupted",
    "ProbeError",
    "RunError",
    "StackError",
    "ValidationError",
    "__version__",
]
