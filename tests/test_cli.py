"""The `veche` command, run as `python -m veche` in a subprocess against a temporary data dir."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import stat
import subprocess
import sys
import urllib.request
from pathlib import Path

import orjson
import pytest

from veche.config import load_config
from veche.protocol.signing import read_signing_key_file
from veche.storage.accounts import AccountStore
from veche.storage.database import open_database


def veche(
    *args: str, cwd: Path, env: dict[str, str] | None = None, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "veche", *args],
        cwd=cwd,
        env={**_clean_env(), **(env or {})},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _clean_env() -> dict[str, str]:
    # The test machine's own VECHE_* settings must not leak into the command under test.
    return {k: v for k, v in os.environ.items() if not k.startswith("VECHE_")}


def one_line_error(result: subprocess.CompletedProcess[str], *, prompted: bool = False) -> str:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    if prompted:  # getpass writes its prompts (and, without a terminal, warnings) first
        lines = lines[-1:]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("veche: ")
    return lines[0]


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    result = veche(
        "generate-config", "--server-name", "example.org", "--output", "data/veche.yaml",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    return tmp_path / "data" / "veche.yaml"


def test_generate_config(tmp_path: Path, config_path: Path) -> None:
    config = load_config(config_path, {})
    assert config.server_name == "example.org"
    assert config.data_dir == tmp_path / "data"
    again = veche("generate-config", "--output", "data/veche.yaml", cwd=tmp_path)
    assert "already exists" in one_line_error(again)


def test_generate_config_to_stdout(tmp_path: Path) -> None:
    result = veche("generate-config", cwd=tmp_path, env={"VECHE_SERVER_NAME": "env.example"})
    assert result.returncode == 0
    assert 'server_name: "env.example"' in result.stdout


def test_generate_config_refuses_a_bad_server_name(tmp_path: Path) -> None:
    result = veche("generate-config", "--server-name", "bad name!", cwd=tmp_path)
    assert one_line_error(result).startswith("veche: --server-name: invalid server name")


async def _accounts(config_path: Path):
    db = await open_database(load_config(config_path, {}).database)
    try:
        store = AccountStore(db)
        return {
            user_id: await store.get_account(user_id)
            for user_id in ("@alice:example.org", "@carol:example.org", "@dave:example.org")
        }
    finally:
        await db.close()


def test_register_user(tmp_path: Path, config_path: Path) -> None:
    config = ["--config", str(config_path)]
    result = veche("register-user", "alice", "--password", "pw", *config, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "Registered @alice:example.org"
    result = veche("register-user", "@Carol:example.org", "--admin", "--password", "pw", *config, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    # Without --password the password is asked for twice.
    result = veche("register-user", "dave", *config, cwd=tmp_path, stdin="secret\nsecret\n")
    assert result.returncode == 0, result.stderr

    accounts = asyncio.run(_accounts(config_path))
    alice, carol, dave = accounts.values()
    assert alice is not None and not alice.is_admin
    assert alice.password_hash is not None and alice.password_hash.startswith("$argon2id$")
    assert carol is not None and carol.is_admin
    assert dave is not None

    taken = veche("register-user", "alice", "--password", "pw", *config, cwd=tmp_path)
    assert "the user @alice:example.org already exists" in one_line_error(taken)


@pytest.mark.parametrize(
    ("args", "stdin", "problem"),
    [
        (["al ice", "--password", "pw"], "", "invalid user name 'al ice'"),
        (["@bob:other.org", "--password", "pw"], "", "is not a user of this server (example.org)"),
        (["bob", "--password", ""], "", "must not be empty"),
        (["bob"], "one\ntwo\n", "do not match"),
    ],
)
def test_register_user_errors(
    tmp_path: Path, config_path: Path, args: list[str], stdin: str, problem: str
) -> None:
    result = veche("register-user", *args, "--config", str(config_path), cwd=tmp_path, stdin=stdin)
    assert problem in one_line_error(result, prompted=bool(stdin))


def test_wrong_setting_stops_start_up_with_one_line(tmp_path: Path, config_path: Path) -> None:
    result = veche(
        "serve", "--config", str(config_path), cwd=tmp_path,
        env={"VECHE_REGISTRATION": "bogus"},
    )
    line = one_line_error(result)
    assert line.startswith("veche: VECHE_REGISTRATION: expected one of closed, token, open")


def test_serve_creates_config_and_key_then_stops_on_sigterm(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "veche", "serve", "--config", "data/veche.yaml"],
        cwd=tmp_path,
        env={**_clean_env(), "VECHE_LISTEN": "127.0.0.1:0"},
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        port = None
        for line in process.stderr:
            match = re.search(r"Serving client on http://127\.0\.0\.1:(\d+)", line)
            if match:
                port = int(match.group(1))
                break
        assert port is not None, "the server never reported its address"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_matrix/client/versions") as r:
            assert "versions" in orjson.loads(r.read())
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    config = load_config(tmp_path / "data" / "veche.yaml", {})
    assert config.server_name == "localhost"
    key_path = tmp_path / "data" / "signing.key"
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    key = read_signing_key_file(key_path.read_text())
    assert key.key_id.startswith("ed25519:a_")
    assert (tmp_path / "data" / "veche.db").exists()
