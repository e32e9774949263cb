"""The invite permission rule, against the spec's schema and example
(event-schemas m.invite_permission_config.yaml)."""

from __future__ import annotations

import pytest

from veche.protocol.invite_permission import blocks_invites


def test_the_spec_example_blocks() -> None:
    assert blocks_invites({"default_action": "block"})


@pytest.mark.parametrize(
    "config",
    [None, {}, {"default_action": "allow"}, {"default_action": "BLOCK"}, {"default_action": True}, {"other": "block"}],
)
def test_missing_invalid_or_unsupported_values_allow(config) -> None:
    assert not blocks_invites(config)
