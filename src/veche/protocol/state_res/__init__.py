"""State resolution: merge the room states of several DAG branches into one.

`resolve_state` picks the algorithm the room version names: v1 (room version 1), v2
(versions 2–11) or v2.1 (version 12). Everything here is pure: the caller loads into
`event_map` every event the state sets reference and every event of their auth chains.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from veche.protocol.events import Event, StateIds, StateKey
from veche.protocol.room_versions import RoomVersion, StateResAlgorithm
from veche.protocol.state_res.errors import MissingEventError, StateResolutionError
from veche.protocol.state_res.graph import auth_chain, auth_chain_difference
from veche.protocol.state_res.v1 import resolve_v1
from veche.protocol.state_res.v2 import resolve_v2

__all__ = [
    "MissingEventError",
    "StateResolutionError",
    "auth_chain",
    "auth_chain_difference",
    "resolve_state",
]


def resolve_state(
    room_version: RoomVersion, state_sets: Sequence[StateIds], event_map: Mapping[str, Event]
) -> dict[StateKey, str]:
    """The resolution of `state_sets` under the room version's algorithm.

    Raises `MissingEventError` if an event the algorithm needs is not in `event_map`.
    """
    if not state_sets:
        return {}
    if len(state_sets) == 1:
        return dict(state_sets[0])
    if room_version.state_res is StateResAlgorithm.V1:
        return resolve_v1(room_version, state_sets, event_map)
    return resolve_v2(room_version, state_sets, event_map)
