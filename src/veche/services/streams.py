"""Stream positions and the tokens that pack them.

Every kind of data that /sync delivers advances its own stream. A `StreamToken` is a
position in each of them; `next_batch`, `since`, `prev_batch` and the `from`/`to`
tokens of the Client-Server API are all serialisations of one.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, fields, replace


class Stream(enum.Enum):
    EVENTS = "events"
    TO_DEVICE = "to_device"
    RECEIPTS = "receipts"
    TYPING = "typing"
    PRESENCE = "presence"
    ACCOUNT_DATA = "account_data"
    DEVICE_LISTS = "device_lists"


class InvalidToken(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class StreamToken:
    events: int = 0
    to_device: int = 0
    receipts: int = 0
    typing: int = 0
    presence: int = 0
    account_data: int = 0
    device_lists: int = 0

    _PREFIX = "s"

    def serialize(self) -> str:
        return self._PREFIX + "_".join(str(getattr(self, name)) for name in _STREAM_NAMES)

    @classmethod
    def parse(cls, text: str) -> StreamToken:
        if not text.startswith(cls._PREFIX):
            raise InvalidToken(text)
        parts = text[1:].split("_")
        names = _STREAM_NAMES
        # Tokens from an older server carry fewer streams: the missing ones start at 0.
        if not 1 <= len(parts) <= len(names):
            raise InvalidToken(text)
        try:
            values = [int(p) for p in parts]
        except ValueError:
            raise InvalidToken(text) from None
        # Positions are 64-bit SQL integers; a larger one is no token of ours.
        if any(not 0 <= v < 2**63 for v in values):
            raise InvalidToken(text)
        return cls(**dict(zip(names, values)))

    def get(self, stream: Stream) -> int:
        return getattr(self, stream.value)

    def advance(self, stream: Stream, position: int) -> StreamToken:
        # Every sync advances the notifier's token to the committed events position, which
        # it usually holds already; dataclasses.replace is slow enough to show.
        if getattr(self, stream.value) == position:
            return self
        return replace(self, **{stream.value: position})

    def is_after(self, other: StreamToken) -> bool:
        """True if any stream of this token is past the same stream of `other`."""
        # Asked on every sync wake-up: spelled out rather than looped over the fields.
        return (
            self.events > other.events
            or self.to_device > other.to_device
            or self.receipts > other.receipts
            or self.typing > other.typing
            or self.presence > other.presence
            or self.account_data > other.account_data
            or self.device_lists > other.device_lists
        )


_STREAM_NAMES = tuple(f.name for f in fields(StreamToken))
