"""matrix-js-sdk (npm `matrix-js-sdk`, Rust crypto) syncing with simplified sliding sync
(MSC4186) on a real Veche, in an encrypted conversation with a /v3/sync client: see
tests/interop/js/sliding_sync.mjs for the scenario. Installs as test_js_sdk_e2ee.py does."""

from __future__ import annotations

from tests.interop.test_js_sdk_e2ee import JS_DIR, SCENARIO_TIMEOUT_S, install_node, run


async def test_js_sdk_sliding_sync_conversation(base_url: str) -> None:
    node = await install_node()
    code, out, err = await run(node, str(JS_DIR / "sliding_sync.mjs"), base_url, timeout=SCENARIO_TIMEOUT_S)
    print(err)
    assert code == 0 and out.strip().endswith("OK"), f"scenario failed (exit {code}):\n{err[-6000:]}"
