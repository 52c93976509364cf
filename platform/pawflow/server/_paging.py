"""Paging of listings: ``limit`` with ``before`` (newest first) or ``after`` (key order).

Every listing answers its list under its usual field plus ``more`` (whether
there are items past this page) and where the next page starts:
``next_before`` for newest-first listings, ``next_after`` for key-ordered ones.
The store is asked for one item more than the page holds, so telling whether
there are more costs no count.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from aiohttp import web

from ._http import int_param

__all__ = ["DEFAULT_LIMIT", "MAX_LIMIT", "after_page", "before_page", "paging"]

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000

T = TypeVar("T")


def paging(request: web.Request, cursor: str = "before") -> tuple[int, str | None]:
    """The request's ``limit`` (1..MAX_LIMIT, default 100) and its ``cursor`` parameter."""
    limit = int_param(request, "limit", DEFAULT_LIMIT, lo=1, hi=MAX_LIMIT)
    return limit, request.query.get(cursor) or None


def before_page(
    key: str, items: list[dict[str, Any]], limit: int, id_field: str = "id"
) -> web.Response:
    """A newest-first page: ``items`` were fetched with ``limit + 1``."""
    more = len(items) > limit
    shown = items[:limit]
    next_before = shown[-1][id_field] if more and shown else None
    return web.json_response({key: shown, "more": more, "next_before": next_before})


def after_page(
    items: Sequence[T], sort_key: Callable[[T], tuple[str, ...]], limit: int, after: str | None
) -> tuple[list[T], bool, str | None]:
    """A key-ordered page of a listing held in memory: the items after the cursor
    ``after`` (sort keys joined by ``/``; a missing first part is ``""``), whether
    there are more, and the cursor of the next page."""
    ordered = sorted(items, key=sort_key)
    if after is not None:
        *head, last = after.split("/")
        width = len(sort_key(ordered[0])) if ordered else len(head) + 1
        start = tuple([""] * (width - len(head) - 1) + head + [last])
        ordered = [item for item in ordered if sort_key(item) > start]
    shown = ordered[:limit]
    more = len(ordered) > limit
    next_after = cursor_of(sort_key(shown[-1])) if more and shown else None
    return shown, more, next_after


def cursor_of(key: tuple[str, ...]) -> str:
    """The ``after`` cursor naming the item with this sort key."""
    return "/".join(part for part in key if part)
