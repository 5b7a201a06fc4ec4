"""The one home of every setting's checks: flags, environment and the library alike.

A flag and its environment variable arrive as text and are converted here; the
library's :class:`~zombiewatch.app.settings.Settings` arrive typed and are checked
by the same functions (the dataclasses call them in ``__post_init__``). So a bad
value gives the same one-line :class:`SettingsError` whichever way it came, and the
command line turns it into exit status 2, never a traceback. The message names the
variable, the value, why, and both ways to set it::

    KAFKA_PUBLISH_TIMEOUT_SECONDS invalid: 'abc' is not a number
    (--publish-timeout or env KAFKA_PUBLISH_TIMEOUT_SECONDS)
"""

from __future__ import annotations

import math
import re
import ssl
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Final, TypeVar

from zombiewatch.adapters.kafka.settings import SecurityProtocol, TlsSettings
from zombiewatch.adapters.kafka.topics import REQUEST_TOPIC_BASE


class SettingsError(ValueError):
    """A flag, environment variable or library setting has a value zombiewatch cannot run with."""


@dataclass(frozen=True, slots=True)
class Setting:
    """One setting's names: its environment variable and its flag."""

    env: str
    flag: str

    def invalid(self, value: object, why: str) -> SettingsError:
        """``<ENV> invalid: <value> <why> (<flag> or env <ENV>)``; a number as ``%g``
        (so ``0``, ``0.0`` and ``"0"`` read the same), any other value quoted."""
        shown = f"{value:g}" if isinstance(value, int | float) and not isinstance(
            value, bool) else repr(value)
        return SettingsError(f"{self.env} invalid: {shown} {why} ({self.ways})")

    def required(self) -> SettingsError:
        return SettingsError(f"{self.env} is required ({self.ways})")

    @property
    def ways(self) -> str:
        return f"{self.flag} or env {self.env}" if self.flag else f"env {self.env}"


NAMESPACE = Setting("NAMESPACE", "--namespace")
KUBECONFIG = Setting("KUBECONFIG", "--kubeconfig")
KAFKA_BROKERS = Setting("KAFKA_BROKERS", "--kafka-brokers")
BRANCH = Setting("BRANCH", "--branch")
TOPIC_PREFIX = Setting("TOPIC_PREFIX", "--topic-prefix")
PUBLISH_TIMEOUT = Setting("KAFKA_PUBLISH_TIMEOUT_SECONDS", "--publish-timeout")
CONSUMER_ISOLATION = Setting("CONSUMER_ISOLATION", "--consumer-isolation")
TASK_EVENTS = Setting("TASK_EVENTS", "--task-events")
SECURITY_PROTOCOL = Setting("KAFKA_SECURITY_PROTOCOL", "--kafka-security-protocol")
CA_FILE = Setting("KAFKA_CA_FILE", "--kafka-ca-file")
CERT_FILE = Setting("KAFKA_CERT_FILE", "--kafka-cert-file")
KEY_FILE = Setting("KAFKA_KEY_FILE", "--kafka-key-file")
SASL_MECHANISM = Setting("KAFKA_SASL_MECHANISM", "--kafka-sasl-mechanism")
LEADER_ELECTION = Setting("LEADER_ELECTION", "--leader-election")
LEASE_DURATION = Setting("LEASE_DURATION_SECONDS", "--lease-duration")
RENEW_DEADLINE = Setting("RENEW_DEADLINE_SECONDS", "--renew-deadline")
RETRY_PERIOD = Setting("RETRY_PERIOD_SECONDS", "--retry-period")
LISTEN = Setting("LISTEN", "--listen")
LOG_FORMAT = Setting("LOG_FORMAT", "--log-format")
LOG_LEVEL = Setting("LOG_LEVEL", "--log-level")
GRACE = Setting("GRACE_SECONDS", "--grace-seconds")
INIT_BOUND = Setting("INIT_BOUND_SECONDS", "--init-bound-seconds")
REAP = Setting("REAP", "--reap")
SHADOW = Setting("SHADOW", "--shadow")
RELIST = Setting("RELIST_SECONDS", "--relist-seconds")
LIVENESS_WINDOW = Setting("LIVENESS_WINDOW_SECONDS", "--liveness-window")
CONSUMER_EXPIRY = Setting("CONSUMER_EXPIRY_SECONDS", "--consumer-expiry")
CONFIRM_WINDOW = Setting("CONFIRM_WINDOW_SECONDS", "--confirm-window")
VAULT = Setting("VAULT_NAME", "--vault")
STORM_GUARD = Setting("STORM_GUARD", "--storm-guard")
STORM_THRESHOLD = Setting("STORM_THRESHOLD", "--storm-threshold")
STORM_GATHER = Setting("STORM_GATHER_SECONDS", "--storm-gather-seconds")
STORM_WINDOW = Setting("STORM_WINDOW_SECONDS", "--storm-window-seconds")
STORM_HOLD = Setting("STORM_HOLD_SECONDS", "--storm-hold-seconds")

LOG_FORMATS: Final = ("text", "json")
"""``LOG_FORMAT`` values; matched case-insensitively (``JSON`` is ``json``)."""
LOG_LEVELS: Final = ("DEBUG", "INFO", "WARNING", "ERROR")
"""``LOG_LEVEL`` values; matched case-insensitively."""

_DNS1123_LABEL: Final = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_TOPIC_CHARS: Final = re.compile(r"[a-zA-Z0-9._-]*")
_TOPIC_MAX: Final = 249
"""Kafka's longest topic name."""


def number(setting: Setting, value: object) -> float:
    """A finite number from text (a flag, a variable) or a number (the library)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise setting.invalid(value, "is not a number")
    try:
        result = float(value)
    except ValueError:
        raise setting.invalid(value, "is not a number") from None
    if not math.isfinite(result):
        raise setting.invalid(result, "is not a finite number")
    return result


def positive(setting: Setting, value: object) -> float:
    result = number(setting, value)
    if result <= 0:
        raise setting.invalid(result, "must be > 0")
    return result


def not_negative(setting: Setting, value: object) -> float:
    result = number(setting, value)
    if result < 0:
        raise setting.invalid(result, "must be >= 0")
    return result


def whole_number(setting: Setting, value: object, *, minimum: int) -> int:
    """An integer (``3``, ``"3"``, ``3.0``) of at least ``minimum``."""
    result = number(setting, value)
    if not result.is_integer():
        raise setting.invalid(result, "is not a whole number")
    if result < minimum:
        raise setting.invalid(result, f"must be >= {minimum}")
    return int(result)


def storm(threshold: object, gather: object, window: object,
          hold: object) -> tuple[int, float, float, float]:
    """The storm guard's settings (``--storm-*``): a threshold of at least two Jobs (one
    Job shares nothing), a gathering no longer than the counting window and the bound."""
    count = whole_number(STORM_THRESHOLD, threshold, minimum=2)
    gathering = not_negative(STORM_GATHER, gather)
    counting = positive(STORM_WINDOW, window)
    bound = positive(STORM_HOLD, hold)
    if gathering > counting:
        raise STORM_GATHER.invalid(gathering, f"must not exceed the counting window "
                                   f"{STORM_WINDOW.flag} ({counting:g})")
    if gathering > bound:
        raise STORM_GATHER.invalid(gathering, f"must not exceed the bound "
                                   f"{STORM_HOLD.flag} ({bound:g})")
    return count, gathering, counting, bound


def boolean(setting: Setting, value: object, *, default: bool) -> bool:
    """A flag's bool, or a variable's ``true/false/1/0/yes/no/on/off``; None: ``default``."""
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    lowered = str(value).strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise setting.invalid(value, "is not a boolean (true or false)")


_E = TypeVar("_E", bound=StrEnum)


def choice(setting: Setting, value: object, kind: type[_E]) -> _E:
    """One of a StrEnum's values (exact spelling, as Kafka and the controller name them)."""
    try:
        return kind(str(value))
    except ValueError:
        raise setting.invalid(value, f"is not one of {', '.join(kind)}") from None


def namespace(value: object) -> str:
    """A Kubernetes namespace name: a DNS-1123 label (lower case, digits, '-', <= 63)."""
    if not value:
        raise NAMESPACE.required()
    text = str(value)
    if len(text) > 63 or _DNS1123_LABEL.fullmatch(text) is None:
        raise NAMESPACE.invalid(value, "is not a DNS-1123 label (lower-case letters, "
                                "digits and '-', at most 63)")
    return text


def brokers(value: str) -> tuple[tuple[str, int], ...]:
    """``host:port[,host:port...]``: at least one, every port in 1..65535."""
    entries = [entry.strip() for entry in value.split(",")]
    if not any(entries):
        raise KAFKA_BROKERS.invalid(value, "names no broker (expected host:port,...)")
    parsed = []
    for entry in entries:
        host, sep, port = entry.rpartition(":")
        if not entry or not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
            raise KAFKA_BROKERS.invalid(value, f"has {entry!r}, not host:port with a port "
                                        "in 1..65535")
        parsed.append((host, int(port)))
    return tuple(parsed)


def topic_prefix(setting: Setting, value: str) -> str:
    """A prefix that keeps ``<prefix>-agent-task-v1-request`` a legal Kafka topic name."""
    longest = _TOPIC_MAX - len(REQUEST_TOPIC_BASE) - 1
    if _TOPIC_CHARS.fullmatch(value) is None or len(value) > longest:
        raise setting.invalid(value, "is not a legal Kafka topic prefix (letters, digits, "
                              f"'.', '_', '-'; at most {longest})")
    return value


def listen(value: str) -> tuple[str, int]:
    """``HOST:PORT`` (an empty host is every interface)."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise LISTEN.invalid(value, "is not HOST:PORT with a port in 0..65535")
    return (host or "0.0.0.0"), int(port)


def port(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 65535:
        raise LISTEN.invalid(value, "has a port not in 0..65535")
    return value


def log_format(value: object) -> str:
    """``text`` or ``json``, any case."""
    lowered = str(value).lower()
    if lowered not in LOG_FORMATS:
        raise LOG_FORMAT.invalid(value, f"is not one of {', '.join(LOG_FORMATS)}")
    return lowered


def log_level(value: object) -> str:
    upper = str(value).upper()
    if upper not in LOG_LEVELS:
        raise LOG_LEVEL.invalid(value, f"is not one of {', '.join(LOG_LEVELS)}")
    return upper


def tls_files(protocol: SecurityProtocol, ca: object, cert: object, key: object) -> None:
    """With TLS, load the CA, certificate and key now as the Kafka clients will load
    them (:meth:`TlsSettings.ssl_context`), so a missing or unparsable file stops the
    start with one line instead of a Kafka client that never connects."""
    if not protocol.uses_tls:
        return
    if key is not None and cert is None:
        raise KEY_FILE.invalid(str(key), f"needs a client certificate ({CERT_FILE.ways})")
    for setting, path in ((CA_FILE, ca), (CERT_FILE, cert), (KEY_FILE, key)):
        if path is not None:
            try:
                Path(str(path)).open("rb").close()
            except OSError as exc:
                raise setting.invalid(str(path), f"cannot be read: {_why(exc)}") from None
    if ca is not None:
        try:
            TlsSettings(ca_file=str(ca)).ssl_context()
        except (OSError, ssl.SSLError) as exc:
            raise CA_FILE.invalid(str(ca), f"cannot be loaded as a CA bundle: {_why(exc)}"
                                  ) from None
    if cert is not None:
        try:
            TlsSettings(cert_file=str(cert), key_file=None if key is None else str(key)
                        ).ssl_context()
        except (OSError, ssl.SSLError) as exc:
            raise CERT_FILE.invalid(str(cert), "cannot be loaded as a client certificate"
                                    + ("" if key is None else f" with key {str(key)!r}")
                                    + f": {_why(exc)}") from None


def _why(exc: BaseException) -> str:
    return exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
