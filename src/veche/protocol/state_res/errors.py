"""Errors raised by state resolution."""

from __future__ import annotations


class StateResolutionError(Exception):
    """State resolution could not run on the input it was given."""


class MissingEventError(StateResolutionError):
    """An event needed by state resolution is not in the `event_map` it was given.

    The caller must load every event referenced by the state sets and every event of
    their auth chains before resolving; the pure algorithm never fetches anything.
    """

    def __init__(self, event_id: str) -> None:
        super().__init__(f"event {event_id} is needed for state resolution but was not provided")
        self.event_id = event_id
