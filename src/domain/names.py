"""Validation and sanitisation of the names we write: Job names, label values, task ids.

Each check returns a problem message (or None) instead of raising, so that the
doctrine and the manifest builder can raise their own error types with the
message intact.
"""

from __future__ import annotations

import re
import unicodedata

DNS1123_LABEL_MAX = 63
"""Kubernetes limit for a DNS-1123 label (and for a label value)."""

_DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")
_NOT_DNS1123 = re.compile(r"[^a-z0-9-]+")
_DASH_RUNS = re.compile(r"-{2,}")

_LINE_BREAKS = frozenset("\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")


def dns1123_label_problem(name: str, *, what: str = "job name") -> str | None:
    """Why ``name`` is not a valid DNS-1123 label, or None when it is."""
    if not name:
        return f"{what} must not be empty"
    if len(name) > DNS1123_LABEL_MAX:
        return f"{what} {name!r} is longer than {DNS1123_LABEL_MAX} characters"
    if _DNS1123_LABEL.fullmatch(name) is None:
        return (
            f"{what} {name!r} is not a DNS-1123 label "
            "(lowercase alphanumerics and '-', starting and ending alphanumeric)"
        )
    return None


def label_value_problem(value: str, *, what: str) -> str | None:
    """Why ``value`` is not a valid Kubernetes label value, or None when it is."""
    if len(value) > DNS1123_LABEL_MAX:
        return f"{what} {value!r} is longer than {DNS1123_LABEL_MAX} characters"
    if _LABEL_VALUE.fullmatch(value) is None:
        return f"{what} {value!r} is not a valid label value"
    return None


def has_control_chars(text: str) -> bool:
    """True when ``text`` holds a line break or any other control character."""
    return any(ch in _LINE_BREAKS or unicodedata.category(ch) == "Cc" for ch in text)


def single_line_problem(text: str, *, what: str) -> str | None:
    """Why ``text`` cannot go on one markdown/YAML line, or None when it can."""
    if has_control_chars(text):
        return f"{what} must be a single line without control characters: {text!r}"
    return None


def task_id_problem(task_id: str) -> str | None:
    """Why ``task_id`` is not usable as a task identifier, or None when it is."""
    if not task_id.strip():
        return "task id must not be empty"
    return single_line_problem(task_id, what="task id")


def sanitize_dns1123(text: str, *, max_len: int = DNS1123_LABEL_MAX) -> str:
    """Best-effort DNS-1123 form of ``text``; may return "" (callers supply a fallback).

    Lowercases, turns every run of other characters into one '-', collapses
    dashes, truncates to ``max_len`` and trims dashes at both ends.
    """
    lowered = _NOT_DNS1123.sub("-", text.lower())
    collapsed = _DASH_RUNS.sub("-", lowered).strip("-")
    return collapsed[:max_len].strip("-")
