"""Frontmatter YAML read and written the way the controller's yaml.v3 does it, with PyYAML.

PyYAML parses and emits; what a plain scalar *means* is decided here, by
yaml.v3's rules rather than PyYAML's YAML 1.1 resolver:

- ``true``/``True``/``TRUE`` and the ``false`` forms are bools; ``yes``,
  ``on``, ``y`` and friends are strings;
- ``""``, ``~``, ``null``, ``Null``, ``NULL`` are null; ``.inf``/``.nan``
  forms are floats;
- an unquoted ``YYYY-M-D``, ``YYYY-M-DTh:m:s[.frac](Z|±hh:mm)`` or
  ``YYYY-M-D h:m:s[.frac]`` is a timestamp (a ``datetime``, UTC when no
  offset is given);
- integers are read as Go's ``strconv.ParseInt(s, 0, 64)`` reads them after
  removing ``_``: ``010`` is 8, ``0x1F`` 31, ``0o17`` 15, ``0b11`` 3, ``+5``
  5; beyond int64 a uint64 (still an ``int``), beyond that a float;
- a float is ``[-+]?(\\.[0-9]+|[0-9]+(\\.[0-9]*)?)([eE][-+]?[0-9]+)?`` (or
  ``.5``-style), out-of-range values stay strings; everything else is a string.

Mappings are decoded as yaml.v3 decodes them into a Go map: duplicate keys
(same node text) are an error, ``<<`` merges never override keys written
in the mapping, aliases are expanded, a key is its node's text. Nested maps
with non-string keys are kept with their keys' text (yaml.v3 would keep them
typed).

Writing is yaml.v3's value model, not its exact bytes: keys sorted in
yaml.v3's order, floats in Go's shortest ``%g`` form (so ``3.0`` is written
``3`` and reads back as an int, a million is ``1e+06`` and stays a float),
timestamps in RFC 3339, strings quoted when they would read as anything
else. A timestamp's fraction is kept to microseconds (Python's resolution).
"""

from __future__ import annotations

import base64
import binascii
import calendar
import functools
import io
import math
import re
import unicodedata
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, Final

import yaml
from yaml.composer import Composer
from yaml.emitter import Emitter
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.parser import Parser
from yaml.reader import Reader
from yaml.scanner import Scanner
from yaml.serializer import Serializer

from zombiewatch.domain.taskfile import Frontmatter, Value

STR: Final = "tag:yaml.org,2002:str"
INT: Final = "tag:yaml.org,2002:int"
FLOAT: Final = "tag:yaml.org,2002:float"
BOOL: Final = "tag:yaml.org,2002:bool"
NULL: Final = "tag:yaml.org,2002:null"
TIMESTAMP: Final = "tag:yaml.org,2002:timestamp"
BINARY: Final = "tag:yaml.org,2002:binary"
MAP: Final = "tag:yaml.org,2002:map"
SEQ: Final = "tag:yaml.org,2002:seq"
PLAIN: Final = "!zombiewatch/plain"
"""The composer's tag for an untagged plain scalar, resolved by :func:`resolve_plain`."""
OLD_BOOL: Final = "!zombiewatch/old-bool"
"""yaml.v3 quotes YAML 1.1 bools and base-60 numbers on write, though it reads them as strings."""

MAX_NODES: Final = 100_000
"""Expanded nodes per document before the read fails (alias bombs)."""


class YamlError(ValueError):
    """The frontmatter is not YAML that yaml.v3 decodes into a map."""


# --- scalars -----------------------------------------------------------------------------

_BOOLS: Final = {
    "true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False,
}
_NULLS: Final = frozenset({"", "~", "null", "Null", "NULL"})
_SPECIAL_FLOATS: Final = {
    **dict.fromkeys((".nan", ".NaN", ".NAN"), math.nan),
    **dict.fromkeys((".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"), math.inf),
    **dict.fromkeys(("-.inf", "-.Inf", "-.INF"), -math.inf),
}
_OLD_BOOLS: Final = frozenset(
    {
        "y", "Y", "yes", "Yes", "YES", "on", "On", "ON",
        "n", "N", "no", "No", "NO", "off", "Off", "OFF",
    }
)  # fmt: skip
_BASE60: Final = re.compile(r"[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?")
_YAML_FLOAT: Final = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
_DOT_FLOAT: Final = re.compile(r"\.[0-9]+([eE][-+]?[0-9]+)?")
_DIGITS: Final = {
    16: re.compile(r"[0-9a-fA-F]+"), 10: re.compile(r"[0-9]+"), 8: re.compile(r"[0-7]*"),
    2: re.compile(r"[01]+"),
}
_TIMESTAMP: Final = re.compile(
    r"(?P<y>[0-9]{4})-(?P<mo>[0-9]{1,2})-(?P<d>[0-9]{1,2})"
    r"(?:(?P<sep>[Tt ])(?P<h>[0-9]{1,2}):(?P<mi>[0-9]{1,2}):(?P<s>[0-9]{1,2})"
    r"(?:[.,](?P<frac>[0-9]+))?(?P<zone>Z|[-+][0-9]{2}:[0-9]{2})?)?"
)


def _parse_uint(text: str) -> int | None:
    """Go's ``strconv.ParseUint(text, 0, 64)``."""
    if not text:
        return None
    base, digits = 10, text
    if text[0] == "0":
        prefix = text[1:2].lower()
        if len(text) >= 3 and prefix in ("b", "o", "x"):
            base, digits = {"b": 2, "o": 8, "x": 16}[prefix], text[2:]
        else:
            base, digits = 8, text[1:]
    if _DIGITS[base].fullmatch(digits) is None:
        return None
    number = int(digits, base) if digits else 0
    return number if number < 2**64 else None


def _parse_int(text: str) -> int | None:
    """Go's ``strconv.ParseInt(text, 0, 64)``."""
    negative = text[:1] == "-"
    magnitude = _parse_uint(text[1:] if text[:1] in ("+", "-") else text)
    if magnitude is None:
        return None
    number = -magnitude if negative else magnitude
    return number if -(2**63) <= number < 2**63 else None


def parse_timestamp(text: str) -> datetime | None:
    """yaml.v3's timestamp formats (Go ``time.Parse`` semantics), or None."""
    match = _TIMESTAMP.fullmatch(text)
    if match is None:
        return None
    parts = match.groupdict()
    zone = parts["zone"]
    if parts["h"] is not None and (parts["sep"] == " ") == (zone is not None):
        return None  # "T" needs a zone, a space must not have one
    year, month, day = int(parts["y"]), int(parts["mo"]), int(parts["d"])
    hour, minute, second = (int(parts[k] or 0) for k in ("h", "mi", "s"))
    if not (1 <= month <= 12 and hour <= 23 and minute <= 59 and second <= 59):
        return None
    if year < 1 or not 1 <= day <= calendar.monthrange(year, month)[1]:
        return None
    micros = int((parts["frac"] or "")[:6].ljust(6, "0"))
    tz: timezone = UTC
    if zone is not None and zone != "Z":
        hours, minutes = int(zone[1:3]), int(zone[4:6])
        if hours > 23 or minutes > 59:
            return None
        offset = timedelta(hours=hours, minutes=minutes)
        tz = timezone(-offset if zone[0] == "-" else offset) if offset else UTC
    return datetime(year, month, day, hour, minute, second, micros, tzinfo=tz)


def resolve_plain(text: str) -> tuple[str, Value]:
    """(tag, value) of an untagged plain scalar, as yaml.v3 resolves it."""
    if text in _NULLS:
        return NULL, None
    if text in _BOOLS:
        return BOOL, _BOOLS[text]
    if text in _SPECIAL_FLOATS:
        return FLOAT, _SPECIAL_FLOATS[text]
    first = text[0]
    if first == "." and _DOT_FLOAT.fullmatch(text) is not None:
        number = float(text)
        if math.isfinite(number):
            return FLOAT, number
    if first.isascii() and (first.isdigit() or first in "+-"):
        stamp = parse_timestamp(text)
        if stamp is not None:
            return TIMESTAMP, stamp
        plain = text.replace("_", "")
        integer = _parse_int(plain)
        if integer is None:
            integer = _parse_uint(plain)  # a uint64 beyond int64 (no sign allowed)
        if integer is not None:
            return INT, integer
        if _YAML_FLOAT.fullmatch(plain) is not None:
            number = float(plain)
            if math.isfinite(number):
                return FLOAT, number
    return STR, text


def _resolve_tagged(tag: str, text: str) -> Value:
    """A scalar with an explicit tag (``!!int 10``)."""
    if tag == STR or not tag.startswith("tag:yaml.org,2002:"):
        return text
    if tag == BINARY:
        try:
            return base64.b64decode(text, validate=False).decode("utf-8", "replace")
        except (binascii.Error, ValueError) as exc:
            raise YamlError(f"!!binary value is not base64: {text!r}") from exc
    if tag == TIMESTAMP:
        stamp = parse_timestamp(text)
        if stamp is None:
            raise YamlError(f"cannot decode {text!r} as a !!timestamp")
        return stamp
    resolved_tag, value = resolve_plain(text) if text else (NULL, None)
    if tag == FLOAT and resolved_tag == INT:
        assert isinstance(value, int)
        return float(value)
    if resolved_tag != tag:
        raise YamlError(f"cannot decode {text!r} as a {tag.rsplit(':', 1)[-1]}")
    return value


# --- reading -----------------------------------------------------------------------------


class _ComposeResolver:
    """Tags every untagged plain scalar :data:`PLAIN`; :func:`_construct` resolves it."""

    def resolve(self, kind: type[Node], value: Any, implicit: Any) -> str:
        if kind is ScalarNode:
            return PLAIN if implicit[0] else STR
        return SEQ if kind is SequenceNode else MAP

    def descend_resolver(self, current_node: Any, current_index: Any) -> None:
        pass

    def ascend_resolver(self) -> None:
        pass


class _Loader(Reader, Scanner, Parser, Composer, _ComposeResolver):
    def __init__(self, stream: str) -> None:
        Reader.__init__(self, stream)
        Scanner.__init__(self)
        Parser.__init__(self)
        Composer.__init__(self)


class _Builder:
    """Node tree → values, with yaml.v3's map semantics and a budget against alias bombs."""

    def __init__(self) -> None:
        self.nodes = 0
        self.stack: set[int] = set()

    def _enter(self, node: Node) -> None:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise YamlError("document contains excessive aliasing")
        if id(node) in self.stack:
            raise YamlError("anchor value contains itself")
        self.stack.add(id(node))

    def value(self, node: Node) -> Value:
        self._enter(node)
        try:
            if isinstance(node, ScalarNode):
                if node.tag == PLAIN:
                    return resolve_plain(node.value)[1]
                return _resolve_tagged(node.tag, node.value)
            if isinstance(node, SequenceNode):
                return [self.value(item) for item in node.value]
            if isinstance(node, MappingNode):
                return self.mapping(node)
            raise YamlError(f"unexpected node {node!r}")
        finally:
            self.stack.discard(id(node))

    def key(self, node: Node) -> str:
        if not isinstance(node, ScalarNode):
            raise YamlError(f"invalid map key: {node.start_mark}")
        if node.tag == PLAIN and node.value in _NULLS:
            return ""
        return str(node.value)

    def mapping(self, node: MappingNode) -> dict[str, Value]:
        pairs: list[tuple[Node, Node]] = list(node.value)
        seen: dict[tuple[type[Node], str], int] = {}
        for key_node, _ in pairs:
            if isinstance(key_node, ScalarNode):
                marker = (ScalarNode, str(key_node.value))
                if marker in seen:
                    raise YamlError(f"mapping key {key_node.value!r} already defined")
                seen[marker] = 1
        result: dict[str, Value] = {}
        merges: list[Node] = []
        for key_node, value_node in pairs:
            if _is_plain(key_node, "<<"):
                merges.append(value_node)
                continue
            result[self.key(key_node)] = self.value(value_node)
        explicit = set(result)
        for merge in merges:
            sources = merge.value if isinstance(merge, SequenceNode) else [merge]
            for source in sources:
                if not isinstance(source, MappingNode):
                    raise YamlError("map merge requires map or sequence of maps as the value")
                self._enter(source)
                try:
                    merged = self.mapping(source)
                finally:
                    self.stack.discard(id(source))
                for key, value in merged.items():
                    if key not in explicit:
                        result[key] = value
        return result


def _is_plain(node: Node, text: str) -> bool:
    return isinstance(node, ScalarNode) and node.tag == PLAIN and node.value == text


def _is_plain_null(node: Node) -> bool:
    return isinstance(node, ScalarNode) and node.tag == PLAIN and node.value in _NULLS


class _DumpResolverBase(_ComposeResolver):
    def resolve(self, kind: type[Node], value: Any, implicit: Any) -> str:
        if kind is ScalarNode:
            return _dump_tag(value) if implicit[0] else STR
        return SEQ if kind is SequenceNode else MAP


class _Dumper(Emitter, Serializer, _DumpResolverBase):
    def __init__(self, stream: Any) -> None:
        Emitter.__init__(self, stream, allow_unicode=True, indent=4, width=2**30)
        Serializer.__init__(self)


try:  # libyaml (which yaml.v3 is a port of) when PyYAML was built with it; else pure Python
    from yaml._yaml import CEmitter, CParser

    class _CLoader(CParser, _ComposeResolver):
        def __init__(self, stream: str) -> None:
            CParser.__init__(self, stream)

    class _CDumper(CEmitter, _DumpResolverBase):
        def __init__(self, stream: Any) -> None:
            CEmitter.__init__(self, stream, allow_unicode=True, indent=4, width=2**30)

    LOADER: type[Any] = _CLoader
    DUMPER: type[Any] = _CDumper
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    LOADER = _Loader
    DUMPER = _Dumper

PythonLoader: Final = _Loader
PythonDumper: Final = _Dumper
"""The pure-Python backend (the fallback without libyaml), for tests of both."""


def _compose(text: str) -> Node | None:
    if _SURROGATES.search(text) is not None:
        raise YamlError("the frontmatter is not valid UTF-8 (a lone surrogate)")
    loader = LOADER(text)
    try:
        node: Node | None = loader.get_single_node()
        return node
    finally:
        loader.dispose()


def load_frontmatter(text: str) -> Frontmatter:
    """The frontmatter as the controller's ``yaml.Unmarshal`` into its map reads it.

    Raises :class:`YamlError` for anything yaml.v3 would refuse (syntax,
    duplicate keys, a document that is not a map, ...).
    """
    try:
        node = _compose(text)
        if node is None:
            return {}
        if _is_plain_null(node):
            return {}
        if not isinstance(node, MappingNode):
            raise YamlError("frontmatter is not a map")
        return _Builder().mapping(node)
    except yaml.YAMLError as exc:
        raise YamlError(str(exc)) from exc
    except RecursionError as exc:
        raise YamlError("frontmatter nests too deeply") from exc


def task_identifier_text(text: str) -> str | None:
    """``task_identifier`` as the controller's lookup reads it: the YAML node's text.

    None when the lookup skips the file (not YAML, duplicate top-level keys,
    not a map, an identifier that is not a scalar); ``""`` when absent or null.
    """
    try:
        node = _compose(text)
    except (yaml.YAMLError, YamlError, RecursionError):
        return None
    if node is None:
        return ""
    if not isinstance(node, MappingNode):
        return "" if _is_plain_null(node) else None
    builder = _Builder()
    names: set[str] = set()
    found = ""
    try:
        for key_node, value_node in node.value:
            name = builder.key(key_node)
            if name in names:
                return None
            names.add(name)
            if name != "task_identifier":
                continue
            if not isinstance(value_node, ScalarNode):
                return None
            plain_null = value_node.tag == PLAIN and value_node.value in _NULLS
            found = "" if plain_null else str(value_node.value)
    except YamlError:
        return None
    return found


# --- writing -----------------------------------------------------------------------------


def go_float(number: float) -> str:
    """Go's ``strconv.FormatFloat(f, 'g', -1, 64)`` as yaml.v3 writes floats."""
    if math.isnan(number):
        return ".nan"
    if math.isinf(number):
        return ".inf" if number > 0 else "-.inf"
    if number == 0:
        return "-0" if math.copysign(1.0, number) < 0 else "0"
    sign, digit_tuple, exponent = Decimal(repr(number)).as_tuple()
    assert isinstance(exponent, int)
    digits = "".join(map(str, digit_tuple))
    stripped = digits.rstrip("0")
    exponent += len(digits) - len(stripped)
    digits = stripped
    point = len(digits) + exponent  # position of the decimal point
    lead = "-" if sign else ""
    x = point - 1
    if x < -4 or x >= 6:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{lead}{mantissa}e{'-' if x < 0 else '+'}{abs(x):02d}"
    if point <= 0:
        return f"{lead}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return f"{lead}{digits}{'0' * (point - len(digits))}"
    return f"{lead}{digits[:point]}.{digits[point:]}"


def format_timestamp(moment: datetime) -> str:
    """Go's ``time.RFC3339Nano`` (UTC as ``Z``, fraction trimmed); naive means UTC."""
    offset = moment.utcoffset() or timedelta(0)
    text = (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}"
        f"T{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}"
    )
    if moment.microsecond:
        text += "." + f"{moment.microsecond:06d}".rstrip("0")
    if not offset:
        return text + "Z"
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    return f"{text}{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _dump_tag(text: str) -> str:
    """What a plain scalar reads as, for the emitter's choice between plain and quoted."""
    if text in _OLD_BOOLS or _BASE60.fullmatch(text) is not None:
        return OLD_BOOL
    return resolve_plain(text)[0] if text else NULL


def _is_letter(char: str) -> bool:
    return unicodedata.category(char).startswith("L")


def _is_digit(char: str) -> bool:
    return unicodedata.category(char) == "Nd"


def _key_less(a: str, b: str) -> bool:
    """yaml.v3's key order (letters by code point, digit runs by value, prefixes first)."""
    digits = False
    for i in range(min(len(a), len(b))):
        if a[i] == b[i]:
            digits = _is_digit(a[i])
            continue
        a_letter, b_letter = _is_letter(a[i]), _is_letter(b[i])
        if a_letter and b_letter:
            return a[i] < b[i]
        if a_letter or b_letter:
            return a_letter if digits else b_letter
        a_num = b_num = 0
        if a[i] == "0" or b[i] == "0":
            j = i - 1
            while j >= 0 and _is_digit(a[j]):
                if a[j] != "0":
                    a_num = b_num = 1
                    break
                j -= 1
        a_end = i
        while a_end < len(a) and _is_digit(a[a_end]):
            a_num = a_num * 10 + ord(a[a_end]) - 48
            a_end += 1
        b_end = i
        while b_end < len(b) and _is_digit(b[b_end]):
            b_num = b_num * 10 + ord(b[b_end]) - 48
            b_end += 1
        if a_num != b_num:
            return a_num < b_num
        if a_end != b_end:
            return a_end < b_end
        return a[i] < b[i]
    return len(a) < len(b)


def _key_compare(a: str, b: str) -> int:
    return -1 if _key_less(a, b) else (1 if _key_less(b, a) else 0)


def sorted_keys(keys: Mapping[str, Any]) -> list[str]:
    """The keys in the order yaml.v3 writes a map."""
    return sorted(keys, key=functools.cmp_to_key(_key_compare))


_SURROGATES: Final = re.compile("[\ud800-\udfff]")
_RAW_BREAKS: Final = re.compile("[\r\x85\u2028\u2029]")


def _node(value: Value) -> Node:
    if isinstance(value, str):
        style = None
        if _RAW_BREAKS.search(value) is not None:
            style = '"'  # PyYAML would write these raw, and a reader folds them as line breaks
        elif "\n" in value:
            style = "|"
        return ScalarNode(STR, value, style=style)
    if isinstance(value, bool):
        return ScalarNode(BOOL, "true" if value else "false")
    if isinstance(value, int):
        text = str(value)
        return ScalarNode(_dump_tag(text), text)
    if isinstance(value, float):
        text = go_float(value)
        return ScalarNode(_dump_tag(text), text)
    if value is None:
        return ScalarNode(NULL, "null")
    if isinstance(value, datetime):
        text = format_timestamp(value)
        return ScalarNode(_dump_tag(text), text)
    if isinstance(value, list):
        return SequenceNode(SEQ, [_node(item) for item in value], flow_style=False)
    return _mapping_node(value)


def _mapping_node(mapping: Mapping[str, Value]) -> MappingNode:
    pairs = [(_node(str(key)), _node(mapping[key])) for key in sorted_keys(mapping)]
    return MappingNode(MAP, pairs, flow_style=False)


def dump_frontmatter(frontmatter: Mapping[str, Value]) -> str:
    """The frontmatter as YAML text ending in a newline (``{}`` when empty)."""
    stream = io.StringIO()
    dumper = DUMPER(stream)
    try:
        dumper.open()
        dumper.serialize(_mapping_node(frontmatter))
        dumper.close()
    finally:
        dumper.dispose()
    return stream.getvalue()
