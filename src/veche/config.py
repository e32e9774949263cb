"""Veche's configuration: a YAML file, every setting overridable by an environment variable.

Precedence: built-in default < YAML file < environment variable (`VECHE_<SETTING>`).
Relative paths written in the file are relative to the file's directory, so a config
file and its data can move together; relative paths from the environment or the
defaults are relative to the current directory.

A wrong setting raises `ConfigError`, whose message is one line naming the setting (the
file key or the environment variable) and what is wrong with it.
"""

from __future__ import annotations

import ipaddress
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from veche.protocol.appservice import InvalidRegistration, Registration, check_registrations, parse_registration
from veche.protocol.identifiers import InvalidIdentifier, parse_server_name
from veche.protocol.room_versions import DEFAULT_ROOM_VERSION, KNOWN_ROOM_VERSIONS
from veche.protocol.server_keys import OldKey
from veche.protocol.signing import InvalidKeyError, decode_verify_key_base64
from veche.services.ratelimit import FEDERATION_LIMIT_KEYS, FederationLimits
from veche.storage.cache import CACHE_SIZE_KEYS, CacheSizes

ENV_PREFIX = "VECHE_"
DEFAULT_SERVER_NAME = "localhost"
DEFAULT_LISTEN = "127.0.0.1:8008"
DEFAULT_DATA_DIR = "data"

# What a listener can serve; later parts of the server (federation, media, metrics) add theirs.
KNOWN_RESOURCES = frozenset({"client", "federation"})
REGISTRATION_MODES = ("closed", "token", "open")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

# The top-level keys of the file, each with its environment variable.
_FILE_KEYS = (
    "server_name",
    "public_baseurl",
    "data_dir",
    "database",
    "signing_key_path",
    "listeners",
    "registration",
    "allow_guest_access",
    "user_directory_search_all_users",
    "rate_limits",
    "default_room_version",
    "log_level",
    "max_upload_size",
    "freeze_unauthenticated_media",
    "url_previews",
    "url_preview_allowed_ranges",
    "media_retention_days",
    "tls_cert",
    "tls_key",
    "old_signing_keys",
    "trusted_key_servers",
    "federation_ca_files",
    "federation_insecure_skip_tls_verification_for_tests",
    "federation_allow_private_addresses",
    "serve_server_wellknown",
    "delegated_server_name",
    "turn_uris",
    "turn_shared_secret",
    "turn_user_lifetime",
    "caches",
    "federation_limits",
    "appservice_config_files",
)


class ConfigError(Exception):
    """A setting is missing or wrong; str(error) is the one line to show the operator."""

    def __init__(self, setting: str, problem: str) -> None:
        super().__init__(f"{setting}: {problem}")
        self.setting = setting
        self.problem = problem


@dataclass(frozen=True, slots=True)
class Listener:
    host: str
    port: int  # 0 asks the OS for a free port (used by tests)
    resources: frozenset[str]
    # Serve HTTPS with the certificate of the tls_cert and tls_key settings.
    tls: bool = False

    @property
    def address(self) -> str:
        return format_host_port(self.host, self.port)


@dataclass(frozen=True, slots=True)
class TrustedKeyServer:
    """A notary asked for other servers' keys; `verify_keys` (key ID, unpadded base64)
    pins its own keys, or is empty to fetch them from it."""

    server_name: str
    verify_keys: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Config:
    server_name: str
    public_baseurl: str
    data_dir: Path
    database: str  # a postgresql:// DSN or an absolute SQLite file path
    signing_key_path: Path
    listeners: tuple[Listener, ...]
    registration: str
    rate_limits: bool
    default_room_version: str
    log_level: str
    config_path: Path | None = None
    allow_guest_access: bool = False
    user_directory_search_all_users: bool = False
    max_upload_size: int = 50 * 1024 * 1024
    # Serve media created after the first start with this on only on authenticated endpoints.
    freeze_unauthenticated_media: bool = True
    url_previews: bool = False
    # Private, loopback or link-local networks URL previews may fetch from anyway.
    url_preview_allowed_ranges: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    # Remove remote media cached and local media not fetched for this many days; None: never.
    media_retention_days: int | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    # Keys this server signed with before its current one (published as old_verify_keys).
    old_signing_keys: tuple[OldKey, ...] = ()
    trusted_key_servers: tuple[TrustedKeyServer, ...] = ()
    # CA certificates trusted for outgoing federation besides the system's.
    federation_ca_files: tuple[Path, ...] = ()
    # Test networks only: accept any certificate from federation peers.
    federation_insecure_skip_tls_verification_for_tests: bool = False
    # Test networks only: let outgoing federation reach loopback and private addresses.
    federation_allow_private_addresses: bool = False
    serve_server_wellknown: bool = False
    # The "m.server" of /.well-known/matrix/server.
    delegated_server_name: str | None = None
    # The TURN servers GET /voip/turnServer hands out, with the secret they share with this
    # server for time-limited credentials; no URIs: no TURN server is offered.
    turn_uris: tuple[str, ...] = ()
    turn_shared_secret: str | None = None
    turn_user_lifetime: int = 86400  # seconds
    caches: CacheSizes = CacheSizes()
    # What one origin server may ask at a time (applied while rate_limits is on).
    federation_limits: FederationLimits = FederationLimits()
    # Application services (bridges, bots), each read from its registration file.
    appservices: tuple[Registration, ...] = ()

    def listener_for(self, resource: str) -> Listener | None:
        for listener in self.listeners:
            if resource in listener.resources:
                return listener
        return None


def env_var(key: str) -> str:
    return ENV_PREFIX + key.upper()


def load_config(path: Path | None, environ: Mapping[str, str] | None = None) -> Config:
    """Read the file at `path` (or none), apply environment overrides and validate."""
    environ = os.environ if environ is None else environ
    file_settings = _read_file(path) if path is not None else {}
    base_dir = path.parent.absolute() if path is not None else Path.cwd()
    where = str(path) if path is not None else "config"
    return _Builder(file_settings, environ, base_dir, where).build(path)


def _read_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(str(path), f"cannot read the config file ({e.strerror})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        position = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or "syntax error"
        raise ConfigError(str(path), f"not valid YAML{position}: {problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(str(path), "the file must hold a mapping of settings")
    for key in data:
        if key not in _FILE_KEYS:
            raise ConfigError(f"{path}: {key}", "unknown setting")
    return data


class _Builder:
    """Resolves each setting from the environment, the file or its default, in that order."""

    def __init__(
        self, file: dict[str, Any], environ: Mapping[str, str], base_dir: Path, where: str
    ) -> None:
        self.file = file
        self.environ = environ
        self.base_dir = base_dir
        self.where = where

    def build(self, path: Path | None) -> Config:
        data_dir = self.path_setting("data_dir", DEFAULT_DATA_DIR)
        listeners = self.listeners()
        server_name = self.setting("server_name", DEFAULT_SERVER_NAME, _parse_server_name)
        database = self.setting("database", None, self.parse_database)
        signing_key_path = self.path_setting("signing_key_path", None)
        public_baseurl = self.setting("public_baseurl", None, _parse_baseurl)
        config = Config(
            server_name=server_name,
            public_baseurl=public_baseurl or _default_baseurl(listeners),
            data_dir=data_dir,
            database=database or str(data_dir / "veche.db"),
            signing_key_path=signing_key_path or data_dir / "signing.key",
            listeners=listeners,
            registration=self.setting("registration", "closed", _parse_registration),
            rate_limits=self.setting("rate_limits", True, _parse_on_off),
            allow_guest_access=self.setting("allow_guest_access", False, _parse_on_off),
            user_directory_search_all_users=self.setting(
                "user_directory_search_all_users", False, _parse_on_off
            ),
            default_room_version=self.setting(
                "default_room_version", DEFAULT_ROOM_VERSION, _parse_room_version
            ),
            log_level=self.setting("log_level", "INFO", _parse_log_level),
            max_upload_size=self.setting("max_upload_size", 50 * 1024 * 1024, _parse_byte_size),
            freeze_unauthenticated_media=self.setting(
                "freeze_unauthenticated_media", True, _parse_on_off
            ),
            url_previews=self.setting("url_previews", False, _parse_on_off),
            url_preview_allowed_ranges=self.setting(
                "url_preview_allowed_ranges", (), _parse_networks
            ),
            media_retention_days=self.setting("media_retention_days", None, _parse_days),
            tls_cert=self.path_setting("tls_cert", None),
            tls_key=self.path_setting("tls_key", None),
            old_signing_keys=self.setting("old_signing_keys", (), _parse_old_signing_keys),
            trusted_key_servers=self.setting("trusted_key_servers", (), _parse_key_servers),
            federation_ca_files=self.paths_setting("federation_ca_files"),
            federation_insecure_skip_tls_verification_for_tests=self.setting(
                "federation_insecure_skip_tls_verification_for_tests", False, _parse_on_off
            ),
            federation_allow_private_addresses=self.setting(
                "federation_allow_private_addresses", False, _parse_on_off
            ),
            serve_server_wellknown=self.setting("serve_server_wellknown", False, _parse_on_off),
            delegated_server_name=self.setting("delegated_server_name", None, _parse_server_name)
            or _default_delegated_server_name(public_baseurl or _default_baseurl(listeners)),
            config_path=path.absolute() if path is not None else None,
            turn_uris=self.setting("turn_uris", (), _parse_turn_uris),
            turn_shared_secret=self.setting("turn_shared_secret", None, _parse_secret),
            turn_user_lifetime=self.setting("turn_user_lifetime", 86400, _parse_seconds),
            caches=self.setting("caches", CacheSizes(), _parse_cache_sizes),
            federation_limits=self.setting("federation_limits", FederationLimits(), _parse_federation_limits),
            appservices=self.appservices(),
        )
        if config.turn_uris and not config.turn_shared_secret:
            raise ConfigError(env_var("turn_shared_secret"), "turn_uris need the TURN server's shared secret")
        if any(listener.tls for listener in config.listeners) and not (
            config.tls_cert and config.tls_key
        ):
            raise ConfigError(
                f"{env_var('tls_cert')}, {env_var('tls_key')}",
                "a listener with tls needs both a certificate and its key",
            )
        return config

    def setting(self, key: str, default: Any, parse: Callable[[Any], Any]) -> Any:
        name = env_var(key)
        if name in self.environ:
            return _checked(name, parse, self.environ[name])
        if key in self.file:
            return _checked(f"{self.where}: {key}", parse, self.file[key])
        return default

    def path_setting(self, key: str, default: str | None) -> Path | None:
        name = env_var(key)
        if name in self.environ:
            return _checked(name, _parse_path, self.environ[name], Path.cwd())
        if key in self.file:
            return _checked(f"{self.where}: {key}", _parse_path, self.file[key], self.base_dir)
        return None if default is None else Path.cwd() / default

    def paths_setting(self, key: str) -> tuple[Path, ...]:
        """A list of paths in the file, comma-separated in the environment."""
        name = env_var(key)
        if name in self.environ:
            items = [item for item in self.environ[name].split(",") if item.strip()]
            return tuple(_checked(name, _parse_path, item.strip(), Path.cwd()) for item in items)
        value = self.file.get(key, [])
        setting = f"{self.where}: {key}"
        if not isinstance(value, list):
            raise ConfigError(setting, "expected a list of paths")
        return tuple(_checked(setting, _parse_path, item, self.base_dir) for item in value)

    def appservices(self) -> tuple[Registration, ...]:
        registrations = tuple(_read_registration(path) for path in self.paths_setting("appservice_config_files"))
        try:
            check_registrations(registrations)
        except InvalidRegistration as e:
            raise ConfigError(env_var("appservice_config_files"), str(e)) from None
        return registrations

    def parse_database(self, value: Any) -> str:
        if not isinstance(value, str) or not value:
            raise ValueError("expected a SQLite file path or a postgresql:// DSN")
        scheme = value.split("://", 1)[0] if "://" in value else ""
        if scheme in ("postgresql", "postgres"):
            return value
        if scheme:
            raise ValueError(f"unsupported database URL scheme {scheme!r} (use postgresql://)")
        base = Path.cwd() if env_var("database") in self.environ else self.base_dir
        return str(base / Path(value).expanduser())

    def listeners(self) -> tuple[Listener, ...]:
        setting = f"{self.where}: listeners"
        raw = self.file.get("listeners")
        if raw is None:
            listeners = [Listener(*_split_host_port(DEFAULT_LISTEN), frozenset({"client"}))]
        elif not isinstance(raw, list) or not raw:
            raise ConfigError(setting, "expected a non-empty list of listeners")
        else:
            listeners = [_parse_listener(f"{setting}[{i}]", item) for i, item in enumerate(raw)]
        seen: set[str] = set()
        for i, listener in enumerate(listeners):
            repeated = listener.resources & seen
            if repeated:
                raise ConfigError(
                    f"{setting}[{i}]", f"resource {min(repeated)!r} is served by two listeners"
                )
            seen |= listener.resources
        name = env_var("listen")
        if name in self.environ:
            host, port = _checked(name, _split_host_port, self.environ[name])
            listeners = _with_client_address(listeners, host, port)
        name = env_var("federation_listen")
        if name in self.environ:
            host, port = _checked(name, _split_host_port, self.environ[name])
            listeners = _with_federation_address(listeners, host, port)
        return tuple(listeners)


def _checked(setting: str, parse: Callable[..., Any], value: Any, *args: Any) -> Any:
    try:
        return parse(value, *args)
    except ValueError as e:
        raise ConfigError(setting, str(e)) from None


def _with_client_address(listeners: list[Listener], host: str, port: int) -> list[Listener]:
    for i, listener in enumerate(listeners):
        if "client" in listener.resources:
            listeners[i] = Listener(host, port, listener.resources, listener.tls)
            return listeners
    return [*listeners, Listener(host, port, frozenset({"client"}))]


def _with_federation_address(listeners: list[Listener], host: str, port: int) -> list[Listener]:
    # Federation is HTTPS only (server-server-api.md, "TLS"), so a listener added here has TLS.
    for i, listener in enumerate(listeners):
        if "federation" in listener.resources:
            listeners[i] = Listener(host, port, listener.resources, listener.tls)
            return listeners
    return [*listeners, Listener(host, port, frozenset({"federation"}), tls=True)]


def _read_registration(path: Path) -> Registration:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise ConfigError(f"appservice {path}", f"cannot read the registration ({e.strerror})") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"appservice {path}", f"not valid YAML: {getattr(e, 'problem', None) or e}") from None
    try:
        return parse_registration(data)
    except InvalidRegistration as e:
        raise ConfigError(f"appservice {path}", str(e)) from None


def _parse_listener(setting: str, item: Any) -> Listener:
    if not isinstance(item, dict):
        raise ConfigError(setting, "expected a mapping with 'address' and 'resources'")
    unknown = set(item) - {"address", "resources", "tls"}
    if unknown:
        raise ConfigError(f"{setting}.{min(unknown)}", "unknown setting")
    host, port = _checked(f"{setting}.address", _split_host_port, item.get("address"))
    resources = item.get("resources")
    if not isinstance(resources, list) or not resources:
        raise ConfigError(f"{setting}.resources", "expected a non-empty list, e.g. [client]")
    for resource in resources:
        if resource not in KNOWN_RESOURCES:
            known = ", ".join(sorted(KNOWN_RESOURCES))
            raise ConfigError(
                f"{setting}.resources", f"unknown resource {resource!r} (known: {known})"
            )
    tls = _checked(f"{setting}.tls", _parse_on_off, item.get("tls", False))
    return Listener(host, port, frozenset(resources), tls)


def _split_host_port(value: Any) -> tuple[str, int]:
    if not isinstance(value, str) or ":" not in value:
        raise ValueError(f"expected host:port, got {value!r}")
    host, _, port_text = value.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        _check_ip(host, value)
    elif ":" in host:
        raise ValueError(f"IPv6 addresses must be in brackets, e.g. [::1]:8008, got {value!r}")
    if not host:
        raise ValueError(f"missing host in {value!r}")
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ValueError(f"invalid port in {value!r}")
    return host, int(port_text)


def _check_ip(host: str, value: str) -> None:
    try:
        ipaddress.IPv6Address(host)
    except ValueError:
        raise ValueError(f"invalid IPv6 address in {value!r}") from None


def format_host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _default_baseurl(listeners: tuple[Listener, ...]) -> str:
    client = next((entry for entry in listeners if "client" in entry.resources), None)
    if client is None:
        return ""
    # A wildcard bind address is no address to hand a client; localhost is the useful guess.
    host = "localhost" if client.host in ("0.0.0.0", "::") else client.host
    return f"http://{format_host_port(host, client.port)}"


def check_server_name(setting: str, value: Any) -> str:
    return _checked(setting, _parse_server_name, value)


def _parse_server_name(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a server name such as example.org, got {value!r}")
    try:
        parse_server_name(value)
    except InvalidIdentifier as e:
        # The message reads "server name '<value>': <what is wrong>".
        raise ValueError(f"invalid {e}") from None
    return value


def _parse_baseurl(value: Any) -> str:
    parts = urlsplit(value) if isinstance(value, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"expected an http:// or https:// URL, got {value!r}")
    return value


def _parse_path(value: Any, base: Path) -> Path:
    if not isinstance(value, str) or not value:
        raise ValueError("expected a path")
    return base / Path(value).expanduser()


def _parse_registration(value: Any) -> str:
    if value not in REGISTRATION_MODES:
        raise ValueError(f"expected one of {', '.join(REGISTRATION_MODES)}, got {value!r}")
    return value


def _parse_on_off(value: Any) -> bool:
    # YAML 1.1 reads a bare `on`/`off` as a boolean, so both spellings arrive here.
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("on", "off"):
        return value.lower() == "on"
    raise ValueError(f"expected on or off, got {value!r}")


def _parse_room_version(value: Any) -> str:
    version = str(value) if isinstance(value, (str, int)) and not isinstance(value, bool) else None
    if version not in KNOWN_ROOM_VERSIONS:
        known = ", ".join(KNOWN_ROOM_VERSIONS)
        raise ValueError(f"unknown room version {value!r} (known: {known})")
    return version


_SIZE_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3}


def _parse_byte_size(value: Any) -> int:
    text = str(value).strip().upper() if isinstance(value, (str, int)) else ""
    number, unit = (text[:-1], text[-1]) if text[-1:] in _SIZE_UNITS else (text, "")
    if isinstance(value, bool) or not number.isdigit() or int(number) == 0:
        raise ValueError(f"expected a positive size in bytes such as 50M, got {value!r}")
    return int(number) * _SIZE_UNITS[unit]


def _parse_networks(value: Any) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    # A list in the file; a comma-separated string in the environment.
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list):
        raise ValueError(f"expected a list of networks such as 10.0.0.0/8, got {value!r}")
    try:
        return tuple(ipaddress.ip_network(str(item).strip()) for item in items if str(item).strip())
    except ValueError as e:
        raise ValueError(f"invalid network: {e}") from None


def _parse_turn_uris(value: Any) -> tuple[str, ...]:
    # A list in the file; a comma-separated string in the environment.
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list):
        raise ValueError(f"expected a list of turn: or turns: URIs, got {value!r}")
    uris = tuple(str(item).strip() for item in items if str(item).strip())
    for uri in uris:
        if not uri.startswith(("turn:", "turns:")):
            raise ValueError(f"expected a turn: or turns: URI, got {uri!r}")
    return uris


def _parse_secret(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError("expected a non-empty string")
    return value


def _parse_seconds(value: Any) -> int:
    if isinstance(value, bool) or not str(value).isdigit() or int(value) == 0:
        raise ValueError(f"expected a positive number of seconds, got {value!r}")
    return int(value)


def _parse_days(value: Any) -> int | None:
    if value in ("off", False, None, 0, "0"):
        return None
    if isinstance(value, bool) or not str(value).isdigit():
        raise ValueError(f"expected a number of days or off, got {value!r}")
    return int(value)


def _parse_old_signing_keys(value: Any) -> tuple[OldKey, ...]:
    # A mapping in the file; the same as a JSON object in the environment.
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise ValueError("expected a JSON object of key IDs") from None
    if not isinstance(value, dict):
        raise ValueError('expected {"ed25519:<version>": {key: <base64>, expired_ts: <ms>}}')
    keys = []
    for key_id, entry in value.items():
        if not isinstance(entry, dict) or type(entry.get("expired_ts")) is not int:
            raise ValueError(f"{key_id}: expected a mapping with key and expired_ts (ms)")
        try:
            verify_key = decode_verify_key_base64(str(key_id), entry.get("key"))
        except InvalidKeyError as e:
            raise ValueError(str(e)) from None
        keys.append(OldKey(str(key_id), verify_key, entry["expired_ts"]))
    return tuple(keys)


def _parse_cache_sizes(value: Any) -> CacheSizes:
    # A mapping in the file; the same as a JSON object in the environment.
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise ValueError("expected a JSON object of cache sizes") from None
    if not isinstance(value, dict):
        raise ValueError(f"expected a mapping of cache sizes ({', '.join(CACHE_SIZE_KEYS)})")
    sizes = {}
    for key, size in value.items():
        if key not in CACHE_SIZE_KEYS:
            raise ValueError(f"unknown cache {key!r} (known: {', '.join(CACHE_SIZE_KEYS)})")
        if type(size) is not int or size < 1:
            raise ValueError(f"{key}: expected a positive whole number of entries, got {size!r}")
        sizes[key] = size
    return CacheSizes(**sizes)


def _parse_federation_limits(value: Any) -> FederationLimits:
    # A mapping in the file; the same as a JSON object in the environment.
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise ValueError("expected a JSON object of federation limits") from None
    if not isinstance(value, dict):
        raise ValueError(f"expected a mapping of federation limits ({', '.join(FEDERATION_LIMIT_KEYS)})")
    limits: dict[str, Any] = {}
    for key, limit in value.items():
        if key not in FEDERATION_LIMIT_KEYS:
            raise ValueError(f"unknown federation limit {key!r} (known: {', '.join(FEDERATION_LIMIT_KEYS)})")
        if key.endswith("per_second"):
            if type(limit) not in (int, float) or not limit > 0:
                raise ValueError(f"{key}: expected a positive number of requests a second, got {limit!r}")
            limits[key] = float(limit)
        else:
            least = 0 if key == "queued" else 1
            if type(limit) is not int or limit < least:
                raise ValueError(f"{key}: expected a whole number of requests of at least {least}, got {limit!r}")
            limits[key] = limit
    return FederationLimits(**limits)


def _parse_key_servers(value: Any) -> tuple[TrustedKeyServer, ...]:
    # Server names, comma-separated in the environment; in the file also mappings
    # {server_name, verify_keys} that pin the notary's keys.
    items = [item.strip() for item in value.split(",") if item.strip()] if isinstance(value, str) else value
    if not isinstance(items, list):
        raise ValueError("expected a list of server names or {server_name, verify_keys}")
    servers = []
    for item in items:
        entry = {"server_name": item} if isinstance(item, str) else item
        if not isinstance(entry, dict) or set(entry) - {"server_name", "verify_keys"}:
            raise ValueError(f"expected a server name or {{server_name, verify_keys}}, got {item!r}")
        name = _parse_server_name(entry.get("server_name"))
        verify_keys = entry.get("verify_keys") or {}
        if not isinstance(verify_keys, dict):
            raise ValueError(f"{name}: verify_keys must map key IDs to base64 keys")
        for key_id, key in verify_keys.items():
            try:
                decode_verify_key_base64(str(key_id), key)
            except InvalidKeyError as e:
                raise ValueError(f"{name}: {e}") from None
        servers.append(TrustedKeyServer(name, tuple((str(k), v) for k, v in verify_keys.items())))
    return tuple(servers)


def _default_delegated_server_name(baseurl: str) -> str | None:
    # Where clients reach us is, by default, where peers reach us too: the usual set-up
    # behind one HTTPS reverse proxy on port 443.
    parts = urlsplit(baseurl) if baseurl else None
    if parts is None or not parts.hostname:
        return None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{host}:{port}"


def _parse_log_level(value: Any) -> str:
    level = value.upper() if isinstance(value, str) else None
    if level not in LOG_LEVELS:
        raise ValueError(f"expected one of {', '.join(LOG_LEVELS)}, got {value!r}")
    return level


def render_config(server_name: str, data_dir: Path, config_dir: Path | None) -> str:
    """The text of a fresh config file (`veche generate-config`).

    `data_dir` is written relative to `config_dir` when it lies inside it, so the file
    and its data can be moved together.
    """
    if config_dir is not None and data_dir.absolute().is_relative_to(config_dir.absolute()):
        data_dir_text = os.path.relpath(data_dir.absolute(), config_dir.absolute())
    else:
        data_dir_text = str(data_dir.absolute())
    # JSON strings are valid YAML scalars, and quoting keeps values like `on` as strings.
    q = json.dumps
    return f"""\
# Veche configuration.
# Every setting can be overridden by an environment variable VECHE_<SETTING>, for example
# VECHE_LOG_LEVEL=DEBUG; VECHE_LISTEN overrides the address of the client listener.
# Relative paths in this file are relative to the directory of this file.

# The name in every user ID of this server (@alice:<server_name>). It cannot be changed
# once users exist.
server_name: {q(server_name)}

# Holds the signing key and, by default, the SQLite database.
data_dir: {q(data_dir_text)}

# A SQLite file path or a postgresql:// DSN. Unset: <data_dir>/veche.db
# database: "postgresql://veche@localhost/veche"

# Where to listen and what to serve there.
listeners:
  - address: {q(DEFAULT_LISTEN)}
    resources: [client]
# To federate, also serve `federation` over HTTPS (one listener may serve both):
#  - address: "0.0.0.0:8448"
#    tls: on
#    resources: [federation]
# tls_cert: "/etc/veche/fullchain.pem"
# tls_key: "/etc/veche/privkey.pem"

# The URL clients reach this server at, announced in /.well-known/matrix/client.
# Unset: http://<address of the client listener>
# public_baseurl: "https://matrix.example.org"

# Who may create an account through the API: closed, token or open.
# `veche register-user` works whatever this says.
registration: "closed"

# Whether guest accounts (POST /register?kind=guest) may be created: on or off.
allow_guest_access: "off"

# Whether the user directory search finds every local user (on) or only those sharing a
# room with the searcher or joined to a public room (off).
user_directory_search_all_users: "off"

# Refuse requests beyond a per-user rate: on or off.
rate_limits: "on"

# The room version of newly created rooms.
default_room_version: {q(DEFAULT_ROOM_VERSION)}

# DEBUG, INFO, WARNING, ERROR or CRITICAL.
log_level: "INFO"

# Media: the largest upload (bytes, or with a K, M or G suffix).
max_upload_size: "50M"

# Serve media uploaded after the first start with this on only through the authenticated
# /_matrix/client/v1/media endpoints, as the spec recommends: on or off.
freeze_unauthenticated_media: "on"

# Let clients ask for previews of links (the server fetches the page): on or off. Private,
# loopback and link-local addresses are refused unless listed in the allowed ranges.
url_previews: "off"
# url_preview_allowed_ranges: ["10.1.0.0/16"]

# Delete cached remote media and local media nobody downloaded for this many days.
# media_retention_days: 90

# A TURN server for voice and video calls (coturn with use-auth-secret): its URIs and the
# static-auth-secret it shares with this server; users get credentials valid this long.
# turn_uris: ["turn:turn.example.org:3478?transport=udp", "turns:turn.example.org:5349?transport=tcp"]
# turn_shared_secret: "the static-auth-secret of the TURN server"
# turn_user_lifetime: 86400

# Entries each in-memory cache may hold; unset ones keep their defaults (shown). Smaller
# caches take less memory and cost more database reads.
# caches:
#   events: 5000
#   parsed_events: 1000
#   state_snapshots: 2000
#   current_states: 5000
#   state_entries: 50000
#   event_snapshots: 20000
#   interned_ids: 20000
#   room_tails: 5000
#   memberships: 5000

# What one federation peer may ask of this server, while rate_limits is on (defaults
# shown): requests a second and the burst beyond it, the same for expensive requests
# (backfill, state, state_ids, event_auth, get_missing_events, send_join, key claims,
# media downloads), requests in flight at once and requests waiting for a slot. Beyond
# them the peer is answered 429 and retries later; transactions (/send) take slots only.
# federation_limits:
#   per_second: 50
#   burst: 500
#   expensive_per_second: 10
#   expensive_burst: 100
#   concurrent: 10
#   expensive_concurrent: 3
#   queued: 100

# Application services (bridges and bots): their registration files, as given to Synapse.
# appservice_config_files: ["/etc/veche/whatsapp-registration.yaml"]
"""
