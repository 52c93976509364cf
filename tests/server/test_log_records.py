"""``POST /api/v1/sessions/log`` judges each record alone: a poisoned or odd record
never costs the others of its batch (the session's final state among them)."""

from __future__ import annotations

import json
from typing import Any

from aiohttp.test_utils import TestClient

from pawflow.storage import SQLiteStore

from ._events import deploy_manifest, new_session
from ._helpers import AUTH

LIMIT = 64 * 1024
MARKER = "characters left out"


def _rec(session_id: str, n: int, kind: str = "print", **fields: Any) -> dict[str, Any]:
    return {"session_id": session_id, "n": n, "time": 100.0 + n, "type": kind, **fields}


async def _post_raw(client: TestClient[Any, Any], body: str) -> dict[str, Any]:
    resp = await client.post(
        "/api/v1/sessions/log",
        data=body.encode(),
        headers={**AUTH, "Content-Type": "application/json"},
    )
    assert resp.status == 200, await resp.text()
    answer: dict[str, Any] = await resp.json()
    return answer


async def test_a_mixed_batch_stores_the_good_records_and_names_the_bad_one(
    client: TestClient[Any, Any], store: SQLiteStore
) -> None:
    dep = await deploy_manifest(store)
    ses = await new_session(store, dep)
    other = await new_session(store, dep)
    huge = "<" + "x" * (200 * 1024) + ">"
    records = [
        _rec(ses, 0, "state", state="running"),
        _rec(ses, 1, text="before"),
        _rec(ses, 2, text="broken \ud83d emoji"),  # json.dumps writes it as \ud83d
        {"session_id": ses, "n": "three", "time": 103.0, "type": "print", "text": "bad shape"},
        _rec(ses, 4, text=huge),
        _rec(other, 0, text="another session's record"),
        _rec(ses, 5, "state", state="completed", result=None),
    ]
    body = json.dumps({"records": records})
    assert "\\ud83d" in body

    answer = await _post_raw(client, body)

    assert answer["stored"] == 6
    assert [r["index"] for r in answer["refused"]] == [3]
    assert "n must be" in answer["refused"][0]["error"]
    stored = {r["n"]: r for r in await store.get_log(ses)}
    assert sorted(stored) == [0, 1, 2, 4, 5]
    assert stored[1]["text"] == "before"
    assert stored[2]["text"] == "broken \ufffd emoji"
    long_text = stored[4]["text"]
    assert MARKER in long_text
    assert long_text.startswith("<xxx") and long_text.endswith("xxx>")
    size = len(json.dumps(stored[4], ensure_ascii=False, separators=(",", ":")).encode())
    assert LIMIT - 1024 < size <= LIMIT
    assert [r["text"] for r in await store.get_log(other)] == ["another session's record"]
    session = await store.get_session(ses)
    assert session is not None and session.state == "completed"


async def test_numbers_json_cannot_hold_cost_only_their_own_record(
    client: TestClient[Any, Any], store: SQLiteStore
) -> None:
    dep = await deploy_manifest(store)
    ses = await new_session(store, dep)
    good = json.dumps(_rec(ses, 0, text="kept"))
    nan = json.dumps(_rec(ses, 1, "call_end", seq=1)).replace("}", ', "result": NaN}')
    overflow = json.dumps(_rec(ses, 2, "call_end", seq=2)).replace("}", ', "result": 1e999}')
    digits = json.dumps(_rec(ses, 3, "call_end", seq=3)).replace("}", f', "result": {"9" * 5000}}}')
    deep = json.dumps(_rec(ses, 4, "call_end", seq=4, result=0))
    deep = deep.replace('"result": 0', '"result": ' + "[" * 40 + "1" + "]" * 40)
    answer = await _post_raw(
        client, f'{{"records": [{good}, {nan}, {overflow}, {digits}, {deep}]}}'
    )

    assert answer["stored"] == 1
    assert [r["index"] for r in answer["refused"]] == [1, 2, 3, 4]
    assert all("\n" not in r["error"] for r in answer["refused"])
    assert [r["n"] for r in await store.get_log(ses)] == [0]


async def test_text_in_any_field_is_cleaned_and_cut_to_fit(
    client: TestClient[Any, Any], store: SQLiteStore
) -> None:
    dep = await deploy_manifest(store)
    ses = await new_session(store, dep)
    # Many wide fields: each is cut, short ones stay whole, and keys are cleaned.
    result = {f"k{i}": "é" * 20_000 for i in range(8)}
    result["short"] = "small"
    result["odd \udc80 key"] = "\ud800"
    record = _rec(ses, 0, "call_end", seq=1, result=result)
    answer = await _post_raw(client, json.dumps({"records": [record]}))

    assert answer == {"stored": 1, "refused": []}
    (stored,) = await store.get_log(ses)
    got = stored["result"]
    assert got["short"] == "small"
    assert got["odd \ufffd key"] == "\ufffd"
    assert all(MARKER in got[f"k{i}"] for i in range(8))
    assert len(json.dumps(stored, ensure_ascii=False, separators=(",", ":")).encode()) <= LIMIT


async def test_a_record_too_big_to_cut_is_refused_alone(
    client: TestClient[Any, Any], store: SQLiteStore
) -> None:
    dep = await deploy_manifest(store)
    ses = await new_session(store, dep)
    many_keys = {f"key number {i}": i for i in range(10_000)}
    records = [
        _rec(ses, 0, "call_end", seq=1, result=many_keys),
        _rec(ses, 1, "state", state="completed"),
    ]
    answer = await _post_raw(client, json.dumps({"records": records}))

    assert answer["stored"] == 1
    assert [r["index"] for r in answer["refused"]] == [0]
    assert "bytes of JSON" in answer["refused"][0]["error"]
    assert [r["n"] for r in await store.get_log(ses)] == [1]


async def test_a_body_that_is_not_json_is_still_refused_whole(
    client: TestClient[Any, Any], store: SQLiteStore
) -> None:
    dep = await deploy_manifest(store)
    ses = await new_session(store, dep)
    for body in ('{"records": [', '{"records": {}}', "[]", '{"records": [1]'):
        resp = await client.post(
            "/api/v1/sessions/log",
            data=body.encode(),
            headers={**AUTH, "Content-Type": "application/json"},
        )
        assert resp.status == 400, body
        assert "\n" not in (await resp.json())["error"]
    assert await store.get_log(ses) == []
