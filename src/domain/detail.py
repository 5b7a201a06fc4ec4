"""The ``Detail:`` line of a failure: any text made safe to write, and the causes it names.

A verdict's detail is built from what the cluster wrote (the kubelet's waiting
message, a container's termination message, the scheduler's or the eviction's
message): free text of any length and content. :func:`safe_detail` is the one
place that text becomes a Detail line, everywhere it is shown (task file,
``explain``, ``scan``, the Kubernetes Event):

- one line: control characters, line breaks and bidirectional-override
  characters become spaces, runs of whitespace one space, both ends stripped
  (a line break would end the markdown bullet and could inject a heading; an
  override could make the line read differently from what it says);
- no secret values: URL user information (``//user:pass@host`` ->
  ``//***@host``), ``password=``/``token=``/``secret=``/``api_key=``-like
  key/value pairs and ``Authorization:``/``Bearer`` credentials lose their
  values (``***``);
- bounded: at most :data:`DETAIL_MAX_CHARS` characters, cut between whole
  characters (never inside a combining sequence) and marked with ``…``.

It is idempotent (a safe detail stays as it is), so it may be applied at the
edge (the adapters keep cluster messages already safe, which also bounds their
memory) and again when the classifier composes the line.

The cause helpers normalise what several pods share: :func:`scheduling_subject`
(the scheduler's message without its node counts) and :func:`missing_object`
(the Secret or ConfigMap a kubelet message names).
"""

from __future__ import annotations

import re
import unicodedata
from typing import Final

DETAIL_MAX_CHARS: Final = 300
"""Long enough for an image reference and the kubelet's pull error, short enough to read
on one line of a task file and to fit a Kubernetes Event's message with the reason."""

ELLIPSIS: Final = "…"

REDACTED: Final = "***"

_LINE_BREAKS: Final = frozenset("\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")
_BIDI_CONTROLS: Final = frozenset("\u200e\u200f\u202a\u202b\u202c\u202d\u202e"
                                  "\u2066\u2067\u2068\u2069")

_USERINFO: Final = re.compile(r"//[^/\s@]+@")
_AUTHORIZATION: Final = re.compile(
    r"(?i)(\bauthorization\s*[=:]\s*)((?:bearer|basic|token|digest)\s+)?+"
    r"(?!\*+(?:[\s,;&…]|$))[^\s,;&…]+")
_BEARER: Final = re.compile(r"(?i)(\bbearer\s+)[A-Za-z0-9._~+/=-]+")
_KEY_VALUE: Final = re.compile(
    r"(?i)((?<![\w.-])[\w.-]*(?:password|passwd|pwd|token|secret|api[_-]?key|access[_-]?key"
    r"|credential)s?[\w.-]*)(\s*[=:]\s*)"
    r"(?!\*+(?:[\s,;&…]|$))(\"[^\"]*\"?|'[^']*'?|[^\s,;&…]+)")


def _one_line(text: str) -> str:
    chars = []
    for ch in text:
        category = unicodedata.category(ch)
        if ch in _LINE_BREAKS or ch in _BIDI_CONTROLS or category == "Cc":
            chars.append(" ")
        elif category == "Cs":
            chars.append("\ufffd")  # a lone surrogate cannot be encoded (UTF-8, JSON)
        else:
            chars.append(ch)
    return " ".join("".join(chars).split())


def _redact(text: str) -> str:
    text = _USERINFO.sub("//" + REDACTED + "@", text)
    text = _AUTHORIZATION.sub(lambda m: f"{m.group(1)}{m.group(2) or ''}{REDACTED}", text)
    text = _BEARER.sub(lambda m: f"{m.group(1)}{REDACTED}", text)
    return _KEY_VALUE.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)


def _cuts_inside(ch: str) -> bool:
    """A character that belongs to the one before it (a combining mark, a joiner, a
    variation selector): a cut just before it would split what a reader sees as one."""
    return (unicodedata.combining(ch) != 0 or unicodedata.category(ch) in ("Mn", "Mc", "Me")
            or ch in "\u200c\u200d" or "\ufe00" <= ch <= "\ufe0f")


def _truncate(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    end = limit - len(ELLIPSIS)
    while end > 0 and _cuts_inside(text[end]):
        end -= 1
    return text[:end].rstrip() + ELLIPSIS


def safe_detail(text: str, limit: int = DETAIL_MAX_CHARS) -> str:
    """``text`` as a safe Detail: one line, no secret values, at most ``limit`` characters.

    Redaction runs before the cut, so a secret is never half shown; a cut can make
    a new key/value pair appear at the end (``token: Bea…``), so redaction and cut
    repeat until nothing changes (twice at most in practice; the bound is a guard).
    """
    result = _one_line(text)
    for _ in range(8):
        again = _truncate(_redact(result), limit)
        if again == result:
            break
        result = again
    return result


_AVAILABLE: Final = re.compile(r"(?:\d+/\d+ )?nodes are available: ")
_COUNT_PREFIX: Final = re.compile(r"^\d+ ")
_SENTENCE_SPLIT: Final = re.compile(r"(?<=\.) (?=\S)")


def scheduling_subject(message: str) -> str:
    """The scheduler's message with its node counts removed and its constraints sorted.

    ``0/3 nodes are available: 2 Insufficient cpu, 1 node(s) didn't match Pod's node
    affinity/selector. preemption: 0/3 nodes are available: 3 Preemption is not
    helpful for scheduling.`` names the same constraints whatever the number of nodes
    and however many of them each constraint excluded (the scheduler orders the
    constraints by their counted text), so counts go and constraints are sorted:
    ``nodes are available: Insufficient cpu, node(s) didn't match Pod's node
    affinity/selector. preemption: nodes are available: Preemption is not helpful for
    scheduling.``
    """
    sentences = []
    for sentence in _SENTENCE_SPLIT.split(safe_detail(message)):
        match = _AVAILABLE.search(sentence)
        if match is None:
            sentences.append(sentence)
            continue
        rest = sentence[match.end():]
        stop = "." if rest.endswith(".") else ""
        items = sorted(_COUNT_PREFIX.sub("", item) for item in rest.removesuffix(".").split(", "))
        sentences.append(f"{sentence[:match.start()]}nodes are available: {', '.join(items)}{stop}")
    return " ".join(sentences)


_MISSING_OBJECT: Final = (
    re.compile(r"\b(secret|configmap|persistentvolumeclaim|serviceaccount)s? \"([^\"\s]+)\" "
               r"not found", re.IGNORECASE),
    re.compile(r"couldn't find key \S+ in (Secret|ConfigMap) (?:[^/\s]+/)?([^/\s]+)"),
)


def missing_object(message: str) -> str | None:
    """``secret/db`` or ``configmap/x`` when a kubelet message names a missing object.

    Known forms: ``secret "db" not found``, ``configmap "x" not found`` (also a
    ``persistentvolumeclaim`` or ``serviceaccount``, and the plural the API's
    errors use: ``secrets "db" not found``),
    ``couldn't find key k in Secret ns/db`` (a missing key counts as its object:
    creating or fixing that object is what clears it). None otherwise.
    """
    for pattern in _MISSING_OBJECT:
        match = pattern.search(message)
        if match is not None:
            return f"{match.group(1).lower()}/{match.group(2)}"
    return None
