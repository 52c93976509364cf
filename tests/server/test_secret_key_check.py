"""The database remembers which secret key its secret vars are sealed with, and a
server with another key is refused while any secret var is stored (both back ends)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from pawflow.secrets import SecretBox
from pawflow.server._keys import KEY_FINGERPRINT_SETTING, SecretKeyMismatch, check_secret_key
from pawflow.storage import Store

MISMATCH = "PAWFLOW_SECRET_KEY differs from the key this database's secrets are encrypted with"


async def test_the_first_key_is_recorded_and_nothing_of_it_is_stored(
    store: Store, tmp_path: Path
) -> None:
    key = SecretBox.generate_key()
    box = SecretBox(key)
    await check_secret_key(store, box, tmp_path)
    recorded = await store.get_setting(KEY_FINGERPRINT_SETTING)
    assert recorded == box.fingerprint() == SecretBox(key).fingerprint()
    assert key not in (recorded or "") and key.rstrip("=") not in (recorded or "")
    assert SecretBox(SecretBox.generate_key()).fingerprint() != recorded
    # The same key again (another server, a restart): accepted.
    await check_secret_key(store, SecretBox(key), tmp_path)


async def test_another_key_is_refused_once_a_secret_is_stored(
    store: Store, open_again: Callable[[], Awaitable[Store]], tmp_path: Path
) -> None:
    first, second = SecretBox(SecretBox.generate_key()), SecretBox(SecretBox.generate_key())
    await check_secret_key(store, first, tmp_path)
    # Nothing is sealed yet: a new key loses nothing, so it is taken instead.
    other = await open_again()
    await check_secret_key(other, second, tmp_path)
    assert await store.get_setting(KEY_FINGERPRINT_SETTING) == second.fingerprint()

    await store.set_var("shop", None, "API_KEY", second.seal("s3cret"), secret=True)
    await store.set_var("shop", None, "REGION", "eu", secret=False)
    assert await store.count_secret_vars() == 1
    with pytest.raises(SecretKeyMismatch) as caught:
        await check_secret_key(store, first, tmp_path)
    assert str(caught.value).startswith(MISMATCH)
    assert "\n" not in str(caught.value)
    assert await store.get_setting(KEY_FINGERPRINT_SETTING) == second.fingerprint()
    await check_secret_key(other, second, tmp_path)

    # Once the last secret is gone, a key change is harmless again.
    assert await store.delete_var("shop", None, "API_KEY")
    await check_secret_key(store, first, tmp_path)
    assert await store.get_setting(KEY_FINGERPRINT_SETTING) == first.fingerprint()


async def test_no_key_is_refused_only_when_secrets_were_sealed_with_one(
    store: Store, tmp_path: Path
) -> None:
    await check_secret_key(store, None, tmp_path)  # a fresh installation
    assert await store.get_setting(KEY_FINGERPRINT_SETTING) is None
    box = SecretBox(SecretBox.generate_key())
    await check_secret_key(store, box, tmp_path)
    await check_secret_key(store, None, tmp_path)  # a key, but nothing sealed with it
    await store.set_var("shop", "gh", "token", box.seal("t"), secret=True)
    with pytest.raises(SecretKeyMismatch, match=r"PAWFLOW_SECRET_KEY is not set and .*secret\.key"):
        await check_secret_key(store, None, tmp_path)


async def test_settings_put_if_absent_and_replace(store: Store) -> None:
    assert await store.get_setting("colour") is None
    assert await store.put_setting_if_absent("colour", "red") == "red"
    assert await store.put_setting_if_absent("colour", "blue") == "red"
    assert not await store.replace_setting("colour", "blue", "green")
    assert await store.replace_setting("colour", "red", "green")
    assert await store.get_setting("colour") == "green"
