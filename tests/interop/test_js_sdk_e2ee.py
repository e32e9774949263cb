"""An end-to-end encrypted conversation between matrix-js-sdk clients (npm `matrix-js-sdk`
with its Rust crypto) on a real Veche: see tests/interop/js/e2ee.mjs for the scenario.

Node 22 and the pinned npm packages are installed by tests/interop/js/install.sh into
.tools/node22 and tests/interop/js/node_modules (both gitignored); the test skips only if
the npm registry cannot be reached.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

JS_DIR = Path(__file__).parent / "js"
INSTALL_TIMEOUT_S = 600
SCENARIO_TIMEOUT_S = 300
REGISTRY_UNREACHABLE = 3


async def run(*command: str, timeout: float, cwd: Path = JS_DIR) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        *command, cwd=cwd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout)
    except TimeoutError:
        process.kill()
        out, err = await process.communicate()
        err += f"\n(killed after {timeout}s)".encode()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def install_node() -> str:
    code, out, err = await run("sh", str(JS_DIR / "install.sh"), timeout=INSTALL_TIMEOUT_S)
    if code == REGISTRY_UNREACHABLE:
        pytest.skip(f"cannot install Node 22 and matrix-js-sdk: {err.strip()}")
    assert code == 0, f"install.sh failed:\n{err}"
    return out.strip().splitlines()[-1]


async def test_js_sdk_encrypted_conversation(base_url: str) -> None:
    node = await install_node()
    code, out, err = await run(node, str(JS_DIR / "e2ee.mjs"), base_url, timeout=SCENARIO_TIMEOUT_S)
    # The scenario's progress lines, shown by pytest when asked (-s) or on failure.
    print(err)
    assert code == 0 and out.strip().endswith("OK"), f"scenario failed (exit {code}):\n{err[-6000:]}"
