"""Function configuration, validated the way the Lambda API validates it."""

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from . import facts, validation
from .errors import InvalidParameterValueException

ARCHITECTURES = ("x86_64", "arm64")


def _int_in_range(parameter, value, lo, hi, unit=""):
    return validation.integer(parameter, value, lo, hi, unit=unit, whole_floats=True)


class Variables(Mapping):
    """A function's environment variables: a read-only, hashable mapping of str to str."""

    __slots__ = ("_d",)

    def __init__(self, variables=()):
        self._d = dict(variables)

    def __getitem__(self, key):
        return self._d[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._d)

    def __len__(self):
        return len(self._d)

    def __hash__(self):
        return hash(frozenset(self._d.items()))

    def __eq__(self, other):
        return isinstance(other, Mapping) and dict(self._d) == dict(other)

    def __repr__(self):
        return repr(self._d)


_KEY = re.compile(facts.ENV_VAR_KEY_PATTERN)


def environment_variables(value) -> Variables:
    """``Environment.Variables`` checked as the Lambda API checks them (key pattern, reserved keys,
    4 KB in all), with AWS's own error texts as the detail."""
    parameter = "Environment.Variables"
    if value is None:
        return Variables()
    if not isinstance(value, Mapping):
        raise InvalidParameterValueException(parameter, value, "a dict of variable names to string values")
    for k, v in value.items():
        if not isinstance(k, str) or not isinstance(v, str):
            bad = k if not isinstance(k, str) else v
            raise InvalidParameterValueException(
                parameter, value, "a dict of variable names to string values",
                f"{bad!r} ({type(bad).__name__}) is not a str")
    invalid = [k for k in value if not _KEY.fullmatch(k)]
    if invalid:
        raise InvalidParameterValueException(
            parameter, value, f"keys matching {facts.ENV_VAR_KEY_PATTERN} that Lambda does not reserve",
            "1 validation error detected: Value at 'environment.variables' failed to satisfy constraint: "
            f"Map keys must satisfy constraint: [Member must satisfy regular expression pattern: "
            f"{facts.ENV_VAR_KEY_PATTERN}]. Invalid keys used in this request: {', '.join(invalid)}")
    reserved = [k for k in value if k in facts.ENV_VARS_RESERVED]
    if reserved:
        raise InvalidParameterValueException(
            parameter, value, "keys that Lambda does not reserve",
            "Lambda was unable to configure your environment variables because the environment variables you "
            "have provided contains reserved keys that are currently not supported for modification. "
            f"Reserved keys used in this request: {', '.join(reserved)}")
    measured = json.dumps(dict(value), separators=(",", ":"), ensure_ascii=False)
    if len(measured.encode()) > facts.ENV_VARS_MAX_BYTES:
        raise InvalidParameterValueException(
            parameter, f"<{len(measured.encode()):,} bytes>", "at most 4 KB in all",
            "Lambda was unable to configure your environment variables because the environment variables you "
            f"have provided exceeded the 4KB limit. String measured: {measured}")
    return Variables(value)


@dataclass(frozen=True)
class FunctionConfig:
    """What ``CreateFunction`` would accept: memory, timeout, storage, concurrency settings.

    ``reserved_concurrency`` is ``None`` (draws on the unreserved pool) or an
    integer that is both the function's floor and its ceiling; 0 throttles every
    call. ``provisioned_concurrency`` environments are initialised before traffic
    arrives and must fit within reserved concurrency when that is set.
    ``environment`` holds the function's own environment variables (``Environment.Variables``):
    handler code sees them in ``os.environ`` beside the ones Lambda sets (``labkit.isolation``).
    """

    name: str = "my-function"
    memory_mb: int = facts.DEFAULT_MEMORY_MB
    timeout_s: int = facts.DEFAULT_TIMEOUT_S
    ephemeral_storage_mb: int = facts.DEFAULT_EPHEMERAL_STORAGE_MB
    reserved_concurrency: "int | None" = None
    provisioned_concurrency: int = 0
    architecture: str = "x86_64"
    runtime_init_ms: float = facts.RUNTIME_INIT_MS
    version: str = "$LATEST"
    environment: "Mapping[str, str] | None" = None   # the function's own environment variables

    def __post_init__(self):
        set_ = object.__setattr__
        set_(self, "environment", environment_variables(self.environment))
        if not isinstance(self.name, str) or not 1 <= len(self.name) <= 64:
            raise InvalidParameterValueException("FunctionName", self.name, "a string of 1 to 64 characters")
        set_(self, "memory_mb", _int_in_range(
            "MemorySize", self.memory_mb, *facts.MEMORY_MB_RANGE, " MB in 1 MB steps"))
        set_(self, "timeout_s", _int_in_range("Timeout", self.timeout_s, *facts.TIMEOUT_S_RANGE, " seconds"))
        set_(self, "ephemeral_storage_mb", _int_in_range(
            "EphemeralStorage.Size", self.ephemeral_storage_mb, *facts.EPHEMERAL_STORAGE_MB_RANGE, " MB"))
        if self.reserved_concurrency is not None:
            set_(self, "reserved_concurrency", _int_in_range(
                "ReservedConcurrentExecutions", self.reserved_concurrency, 0, facts.REGIONAL_CONCURRENCY_LIMIT * 1000))
        set_(self, "provisioned_concurrency", _int_in_range(
            "ProvisionedConcurrentExecutions", self.provisioned_concurrency, 0,
            facts.REGIONAL_CONCURRENCY_LIMIT * 1000))
        if self.reserved_concurrency is not None and self.provisioned_concurrency > self.reserved_concurrency:
            raise InvalidParameterValueException(
                "ProvisionedConcurrentExecutions", self.provisioned_concurrency,
                f"at most the function's reserved concurrency ({self.reserved_concurrency})")
        if self.architecture not in ARCHITECTURES:
            raise InvalidParameterValueException("Architectures", self.architecture, f"one of {ARCHITECTURES}")
        validation.number("runtime_init_ms", self.runtime_init_ms, 0, facts.INIT_LIMIT_S * 1000,
                          allowed=f"a number of ms from 0 to {facts.INIT_LIMIT_S * 1000:,.0f} (labkit option)")

    @property
    def vcpus(self):
        """vCPU cores visible to the function (steps of 1,769 MB, at most 6)."""
        return min(facts.MAX_VCPUS, -(-self.memory_mb // facts.MB_PER_VCPU))

    @property
    def cpu_share(self):
        """vCPU-seconds of work the environment gets per second, across all its threads."""
        return min(float(self.vcpus), self.memory_mb / facts.MB_PER_VCPU)

    @property
    def single_thread_speed(self):
        """Speed of one thread relative to a full vCPU: memory-proportional, capped at 1."""
        return min(1.0, self.memory_mb / facts.MB_PER_VCPU)
