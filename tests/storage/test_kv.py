"""The per-project key-value store: plain reads and writes, atomic operations."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from pawflow.errors import NotFoundError
from pawflow.storage import KV_OPS, KVError, Store

from ._helpers import deploy


async def test_set_get_list_delete(store: Store) -> None:
    await deploy(store, "a")
    await deploy(store, "b")
    assert await store.kv_get("a", "k") is None
    entry = await store.kv_set("a", "k", {"n": [1, 2.5, None, True, "x"]})
    assert entry.key == "k" and entry.value == {"n": [1, 2.5, None, True, "x"]}
    got = await store.kv_get("a", "k")
    assert got is not None and got.value == entry.value and got.updated_at == entry.updated_at
    await store.kv_set("a", "k", "replaced")
    assert (await store.kv_get("a", "k")).value == "replaced"  # type: ignore[union-attr]
    # Projects do not share keys.
    assert await store.kv_get("b", "k") is None
    # A stored JSON null is a value, not a missing key.
    await store.kv_set("a", "nothing", None)
    nothing = await store.kv_get("a", "nothing")
    assert nothing is not None and nothing.value is None
    assert await store.kv_delete("a", "k") is True
    assert await store.kv_delete("a", "k") is False
    assert await store.kv_get("a", "k") is None


async def test_list_by_prefix_in_key_order(store: Store) -> None:
    await deploy(store)
    for key in ["user/2", "user/10", "users", "user/1", "order/1", "usér/1", "user%"]:
        await store.kv_set("demo", key, key.upper())
    assert [e.key for e in await store.kv_list("demo")] == sorted(
        ["user/2", "user/10", "users", "user/1", "order/1", "usér/1", "user%"]
    )
    assert [e.key for e in await store.kv_list("demo", "user/")] == ["user/1", "user/10", "user/2"]
    # Characters that are wildcards in SQL LIKE are plain characters here.
    assert [e.key for e in await store.kv_list("demo", "user%")] == ["user%"]
    assert [e.key for e in await store.kv_list("demo", "us")] == [
        "user%",
        "user/1",
        "user/10",
        "user/2",
        "users",
        "usér/1",
    ]
    assert [e.value for e in await store.kv_list("demo", "usé")] == ["USÉR/1"]
    assert len(await store.kv_list("demo", "", limit=2)) == 2
    assert await store.kv_list("demo", "zzz") == []


async def test_unknown_project(store: Store) -> None:
    with pytest.raises(NotFoundError, match="no project 'ghost'"):
        await store.kv_set("ghost", "k", 1)
    with pytest.raises(NotFoundError):
        await store.kv_get("ghost", "k")
    with pytest.raises(NotFoundError):
        await store.kv_list("ghost")
    with pytest.raises(NotFoundError):
        await store.kv_mutate("ghost", "k", "add", 1)


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        ("", "must not be empty"),
        ("x" * 257, "longer than 256"),
        ("a\nb", "control character"),
        ("a\x00b", "control character"),
        (5, "must be a string"),
    ],
)
async def test_bad_keys(store: Store, key: object, problem: str) -> None:
    await deploy(store)
    with pytest.raises(KVError, match=problem):
        await store.kv_set("demo", key, 1)  # type: ignore[arg-type]
    assert await store.kv_list("demo") == []


async def test_longest_key_is_fine(store: Store) -> None:
    await deploy(store)
    await store.kv_set("demo", "k" * 256, 1)
    assert (await store.kv_get("demo", "k" * 256)) is not None


@pytest.mark.parametrize("value", [object(), {1, 2}, float("nan"), float("inf"), b"bytes"])
async def test_values_must_be_json(store: Store, value: object) -> None:
    await deploy(store)
    with pytest.raises(KVError, match="not JSON-serialisable"):
        await store.kv_set("demo", "k", value)
    assert await store.kv_get("demo", "k") is None


async def test_value_size_limit(store: Store) -> None:
    await deploy(store)
    with pytest.raises(KVError, match="larger than"):
        await store.kv_set("demo", "k", "x" * (1 << 20))


async def test_add(store: Store) -> None:
    await deploy(store)
    assert (await store.kv_mutate("demo", "n", "add")).value == 1  # missing counts as 0
    assert (await store.kv_mutate("demo", "n", "add", 41)).value == 42
    assert (await store.kv_mutate("demo", "n", "add", -2.5)).value == 39.5
    await store.kv_set("demo", "s", "text")
    with pytest.raises(KVError, match="'add': key 's' holds a string, not a number"):
        await store.kv_mutate("demo", "s", "add", 1)
    with pytest.raises(KVError, match="needs a number"):
        await store.kv_mutate("demo", "n", "add", True)
    await store.kv_set("demo", "b", True)
    with pytest.raises(KVError, match="holds a boolean"):
        await store.kv_mutate("demo", "b", "add", 1)
    # A failed operation changes nothing.
    assert (await store.kv_get("demo", "n")).value == 39.5  # type: ignore[union-attr]


async def test_append_merge_set_default(store: Store) -> None:
    await deploy(store)
    await store.kv_mutate("demo", "list", "append", {"a": 1})
    assert (await store.kv_mutate("demo", "list", "append", 2)).value == [{"a": 1}, 2]
    assert (await store.kv_mutate("demo", "obj", "merge", {"a": 1, "b": 2})).value == {
        "a": 1,
        "b": 2,
    }
    assert (await store.kv_mutate("demo", "obj", "merge", {"b": 3})).value == {"a": 1, "b": 3}
    with pytest.raises(KVError, match="'append': key 'obj' holds an object, not a list"):
        await store.kv_mutate("demo", "obj", "append", 1)
    with pytest.raises(KVError, match="'merge' needs an object"):
        await store.kv_mutate("demo", "obj", "merge", [1])
    with pytest.raises(KVError, match="holds a list, not an object"):
        await store.kv_mutate("demo", "list", "merge", {"x": 1})
    assert (await store.kv_mutate("demo", "d", "set_default", "first")).value == "first"
    assert (await store.kv_mutate("demo", "d", "set_default", "second")).value == "first"


async def test_unknown_op(store: Store) -> None:
    await deploy(store)
    with pytest.raises(KVError, match="unknown operation 'multiply'; use one of: add, append"):
        await store.kv_mutate("demo", "n", "multiply", 2)
    assert KV_OPS == ("add", "append", "merge", "set_default")


async def test_check_and_set(store: Store) -> None:
    await deploy(store)
    # expected None: the key must not exist yet.
    swapped, entry = await store.kv_check_and_set("demo", "lock", None, "me")
    assert swapped and entry is not None and entry.value == "me"
    swapped, entry = await store.kv_check_and_set("demo", "lock", None, "you")
    assert not swapped and entry is not None and entry.value == "me"
    swapped, entry = await store.kv_check_and_set("demo", "lock", "you", "them")
    assert not swapped and entry is not None and entry.value == "me"
    swapped, entry = await store.kv_check_and_set("demo", "lock", "me", {"owner": "them"})
    assert swapped and entry is not None and entry.value == {"owner": "them"}
    swapped, entry = await store.kv_check_and_set("demo", "missing", "x", "y")
    assert not swapped and entry is None
    assert await store.kv_get("demo", "missing") is None


@pytest.mark.parametrize(
    ("stored", "expected", "equal"),
    [
        (1, 1.0, True),
        (1, True, False),
        (0, False, False),
        ([1, {"a": None}], [1, {"a": None}], True),
        ({"a": 1, "b": 2}, {"b": 2, "a": 1}, True),
        ([1, 2], [2, 1], False),
        ("1", 1, False),
        ({"a": 1}, {"a": 1, "b": None}, False),
    ],
)
async def test_check_and_set_compares_as_json(
    store: Store, stored: object, expected: object, equal: bool
) -> None:
    await deploy(store)
    await store.kv_set("demo", "k", stored)
    swapped, _ = await store.kv_check_and_set("demo", "k", expected, "new")
    assert swapped is equal


async def test_concurrent_adds_from_two_processes_lose_nothing(
    store: Store, open_again: Callable[[], Awaitable[Store]]
) -> None:
    """Two store instances on one database stand for two server processes."""
    await deploy(store)
    other = await open_again()
    await asyncio.gather(
        *(s.kv_mutate("demo", "count", "add", 1) for _ in range(50) for s in (store, other)),
        *(s.kv_mutate("demo", "seen", "append", i) for i in range(20) for s in (store, other)),
    )
    assert (await store.kv_get("demo", "count")).value == 100  # type: ignore[union-attr]
    assert len((await store.kv_get("demo", "seen")).value) == 40  # type: ignore[union-attr]
