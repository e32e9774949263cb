"""Server ACLs: may a server take part in a room? (m.room.server_acl; spec:
client-server-api/modules/server_acls.md and the event's schema).

The rule, applied to the requesting server's name without its port:

1. no m.room.server_acl in the room state: allow;
2. an IP literal when `allow_ip_literals` is false: deny;
3. a match in `deny`: deny;
4. a match in `allow`: allow;
5. otherwise deny.

Patterns are case-insensitive globs (`*` any run, `?` one character; appendices.md,
"Glob-style matching").
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from veche.protocol.identifiers import InvalidIdentifier, parse_server_name

SERVER_ACL_EVENT = "m.room.server_acl"

_IPV4_LITERAL = re.compile(r"[0-9]{1,3}(\.[0-9]{1,3}){3}")


@dataclass(frozen=True, slots=True)
class ServerAcl:
    allow_ip_literals: bool
    allow: tuple[re.Pattern[str], ...]
    deny: tuple[re.Pattern[str], ...]

    @classmethod
    def from_content(cls, content: Mapping[str, Any]) -> ServerAcl:
        """Read an event's content; malformed fields take the spec's defaults."""
        allow_ip_literals = content.get("allow_ip_literals", True)
        return cls(
            # "Defaults to true if missing or otherwise not a boolean."
            allow_ip_literals=allow_ip_literals if isinstance(allow_ip_literals, bool) else True,
            allow=_patterns(content.get("allow")),
            deny=_patterns(content.get("deny")),
        )

    def allows(self, server_name: str) -> bool:
        try:
            host, _port = parse_server_name(server_name)
        except InvalidIdentifier:
            return False
        if not self.allow_ip_literals and _is_ip_literal(host):
            return False
        host = host.lower()
        if any(pattern.fullmatch(host) for pattern in self.deny):
            return False
        return any(pattern.fullmatch(host) for pattern in self.allow)


def server_acl_allows(acl_content: Mapping[str, Any] | None, server_name: str) -> bool:
    """The whole rule: `acl_content` is the room's current ACL content, None if it has none."""
    if acl_content is None:
        return True
    return ServerAcl.from_content(acl_content).allows(server_name)


def _patterns(value: Any) -> tuple[re.Pattern[str], ...]:
    # Both lists default to empty; entries that are not strings cannot match anything.
    if not isinstance(value, list):
        return ()
    return tuple(glob_to_regex(entry) for entry in value if isinstance(entry, str))


def glob_to_regex(glob: str) -> re.Pattern[str]:
    parts = []
    for char in glob.lower():
        if char == "*":
            parts.append(".*")
        elif char == "?":
            parts.append(".")
        else:
            parts.append(re.escape(char))
    return re.compile("".join(parts), re.DOTALL)


def _is_ip_literal(host: str) -> bool:
    return host.startswith("[") or bool(_IPV4_LITERAL.fullmatch(host))
