"""POST /user_directory/search (users.yaml): find users by user ID or display name.

The requester sees, as users.yaml requires at a minimum, users who share a room with
them and users joined to public or world-readable rooms; with the
`user_directory_search_all_users` setting, every local user. A term matches when each
of its words starts a word of the user's ID or display name, case-insensitively.

Only local users are indexed, from their global profile: the profile service calls
`update` whenever a displayname or avatar changes and `remove` on deactivation.
"""

from __future__ import annotations

import re
from typing import Any

from veche.errors import invalid_param
from veche.protocol.identifiers import InvalidIdentifier, parse_user_id
from veche.protocol.profiles import AVATAR_URL, DISPLAYNAME
from veche.storage.user_directory import DirectoryEntry, UserDirectoryStore

DEFAULT_LIMIT = 10
MAX_LIMIT = 100
_NON_WORD = re.compile(r"[\W_]+")


class UserDirectory:
    def __init__(self, store: UserDirectoryStore, *, search_all_users: bool) -> None:
        self._store = store
        self._search_all_users = search_all_users

    async def update(self, user_id: str, profile: dict[str, Any]) -> None:
        display_name = profile.get(DISPLAYNAME)
        avatar_url = profile.get(AVATAR_URL)
        entry = DirectoryEntry(
            user_id,
            display_name if isinstance(display_name, str) else None,
            avatar_url if isinstance(avatar_url, str) else None,
        )
        await self._store.upsert(entry, search_text(entry.user_id, entry.display_name))

    async def remove(self, user_id: str) -> None:
        await self._store.remove(user_id)

    async def search(self, requester: str, body: dict[str, Any]) -> dict[str, Any]:
        term = body.get("search_term")
        if not isinstance(term, str):
            raise invalid_param("search_term must be a string")
        limit = body.get("limit", DEFAULT_LIMIT)
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
            raise invalid_param("limit must be a non-negative integer")
        limit = min(limit, MAX_LIMIT)
        words = term.casefold().split()
        if not words:
            return {"results": [], "limited": False}
        # One more than asked tells whether the list was cut.
        entries = await self._store.search(requester, words, limit + 1, everyone=self._search_all_users)
        results = [_result(entry) for entry in entries[:limit]]
        return {"results": results, "limited": len(entries) > limit}


def search_text(user_id: str, display_name: str | None) -> str:
    """The words a search may start: the whole user ID (with and without its sigil), its
    localpart, and the display name, each also cut at punctuation, as " w1 w2 … "."""
    words: list[str] = [user_id, user_id[1:]]
    try:
        words.append(parse_user_id(user_id).localpart)
    except InvalidIdentifier:
        pass
    if display_name:
        words.extend(display_name.split())
    folded = [w.casefold() for w in words]
    pieces = [p for w in folded for p in _NON_WORD.split(w) if p]
    unique = dict.fromkeys(folded + pieces)
    return " " + " ".join(unique) + " "


def _result(entry: DirectoryEntry) -> dict[str, str]:
    result = {"user_id": entry.user_id}
    if entry.display_name is not None:
        result["display_name"] = entry.display_name
    if entry.avatar_url is not None:
        result["avatar_url"] = entry.avatar_url
    return result
