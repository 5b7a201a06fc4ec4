"""Listing: one complete, paginated list of a collection (one snapshot)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

from zombiewatch.adapters.kubernetes.decoding import (
    Codec,
    DecodedItem,
    ListPage,
    decode_list_page,
)

V = TypeVar("V")

FetchPage = Callable[[str | None], bytes]
"""continue token (None for the first page) -> the page's response body."""


@dataclass(frozen=True, slots=True)
class Listing(Generic[V]):
    """A complete list: every item decoded, and the list's resourceVersion."""

    resource_version: str
    items: tuple[DecodedItem[V], ...]


def iter_pages(fetch: FetchPage) -> Iterator[ListPage]:
    """Follow ``continue`` tokens until the last page."""
    token: str | None = None
    while True:
        page = decode_list_page(fetch(token))
        yield page
        if not page.continue_token:
            return
        token = page.continue_token


def list_all(fetch: FetchPage, codec: Codec[V]) -> Listing[V]:
    """List every page; the resourceVersion is the last page's (the snapshot's)."""
    items: list[DecodedItem[V]] = []
    resource_version = ""
    for page in iter_pages(fetch):
        resource_version = page.resource_version
        items.extend(codec.decode_item(raw) for raw in page.items)
    return Listing(resource_version, tuple(items))
