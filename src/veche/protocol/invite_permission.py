"""Invite permission (client-server-api/modules/invite_permission.md, added in v1.18;
event-schemas m.invite_permission_config.yaml): whether a user's account data asks the
server to refuse every invite to them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

INVITE_PERMISSION_CONFIG_TYPE = "m.invite_permission_config"
INVITE_BLOCKED = "M_INVITE_BLOCKED"


def blocks_invites(config: Mapping[str, Any] | None) -> bool:
    """Whether this `m.invite_permission_config` content blocks all invites.

    Only `default_action: "block"` does: "A missing, invalid or unsupported value means
    that the user wants to receive invites as normal."
    """
    return config is not None and config.get("default_action") == "block"
