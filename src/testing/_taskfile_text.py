"""A task file's text as the controller splits, reads and writes it.

- The file must start with ``---``; one line break after it is skipped. The
  frontmatter is the text up to the first ``\\n---`` (the first line that
  *starts with* ``---``, so a ``---owner`` key cuts it short), without the
  newline before it.
- The body is everything after the first ``\\n---\\n``, byte for byte. A file
  without one (CRLF delimiters, ``--- `` with a trailing space, a file ending
  in ``---``) cannot be split: the controller answers ``error`` and leaves it.
- The written file is always ``---\\n`` + YAML + ``---\\n`` + body.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from zombiewatch.domain.taskfile import Frontmatter, TaskFile
from zombiewatch.testing._yamlv3 import YamlError, dump_frontmatter, load_frontmatter

DELIMITER: Final = "---"
BODY_MARK: Final = "\n---\n"


class TaskTextError(ValueError):
    """The text is not a task file the controller can read (the message says which step)."""


def extract_frontmatter(text: str) -> str | None:
    """The frontmatter text, or None when there is none or it is never closed."""
    if not text.startswith(DELIMITER):
        return None
    rest = text[len(DELIMITER) :]
    end = rest.find("\n" + DELIMITER)
    if end < 0:
        return None
    frontmatter = rest[:end]
    for line_break in ("\r\n", "\n"):
        if frontmatter.startswith(line_break):
            return frontmatter[len(line_break) :]
    return frontmatter


def extract_body(text: str) -> str | None:
    """Everything after the first ``\\n---\\n``, or None when the file has none."""
    index = text.find(BODY_MARK)
    return None if index < 0 else text[index + len(BODY_MARK) :]


def read_task_text(text: str) -> TaskFile:
    """Frontmatter (typed, as yaml.v3 reads it) and body; :class:`TaskTextError` if unreadable."""
    frontmatter_text = extract_frontmatter(text)
    if frontmatter_text is None:
        raise TaskTextError("extract frontmatter: no frontmatter or not closed")
    try:
        frontmatter = load_frontmatter(frontmatter_text)
    except YamlError as exc:
        raise TaskTextError(f"parse frontmatter: {exc}") from exc
    body = extract_body(text)
    if body is None:
        raise TaskTextError("extract body: frontmatter not closed")
    return TaskFile(frontmatter=frontmatter, body=body)


def write_task_text(task: TaskFile) -> str:
    """The file the controller writes for ``task``."""
    return render(task.frontmatter, task.body)


def render(frontmatter: Frontmatter, body: str) -> str:
    return f"{DELIMITER}\n{dump_frontmatter(frontmatter)}{DELIMITER}\n{body}"


@dataclass(frozen=True, slots=True)
class ReadBack:
    """A file read back with the controller's parser; both None when it cannot be read."""

    frontmatter: Frontmatter | None
    body: str | None
    error: str | None


def read_back(text: str) -> ReadBack:
    try:
        task = read_task_text(text)
    except TaskTextError as exc:
        return ReadBack(frontmatter=None, body=None, error=str(exc))
    return ReadBack(frontmatter=task.frontmatter, body=task.body, error=None)
