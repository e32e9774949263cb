"""Each user's push rules: read for every event, edited through /pushrules.

Rule sets are cached in memory. A user who never changed a rule gets the shared
`DEFAULT_RULESET`, which is what lets bulk evaluation treat all such users as one. Every
edit is written, then published as the server-managed `m.push_rules` account data, which
is how clients learn of it (push.md "Push Rules: Events").
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from veche.errors import MatrixError, not_found
from veche.protocol.push_rules import (
    DEFAULT_RULESET,
    KINDS,
    Action,
    InvalidPushRule,
    PushRule,
    RuleSet,
    UnknownRule,
    UserRules,
    build_ruleset,
    normalise_actions,
    rule_from_request,
)
from veche.services.account_data import AccountDataService
from veche.services.keyed_lock import KeyedLock
from veche.storage.push_rules import PushRuleStore

PUSH_RULES_TYPE = "m.push_rules"


class PushRuleService:
    def __init__(self, store: PushRuleStore, account_data: AccountDataService) -> None:
        self._store = store
        self._account_data = account_data
        self._rulesets: dict[str, RuleSet] = {}
        self._locks = KeyedLock()

    async def get_ruleset(self, user_id: str) -> RuleSet:
        return (await self.get_rulesets([user_id]))[user_id]

    async def get_rulesets(self, user_ids: Iterable[str]) -> dict[str, RuleSet]:
        wanted = list(user_ids)
        missing = [u for u in wanted if u not in self._rulesets]
        if missing:
            stored = await self._store.get_many(missing)
            for user_id in missing:
                doc = stored.get(user_id)
                rules = UserRules.from_json(doc) if doc is not None else None
                self._rulesets.setdefault(
                    user_id, DEFAULT_RULESET if rules is None or rules.is_empty() else build_ruleset(rules)
                )
        return {u: self._rulesets[u] for u in wanted}

    async def get_all(self, user_id: str) -> dict[str, Any]:
        """GET /pushrules/: every ruleset (only `global` exists)."""
        return {"global": (await self.get_ruleset(user_id)).to_json(user_id)}

    async def get_kind(self, user_id: str, kind: str) -> list[dict[str, Any]]:
        _check_kind(kind)
        return [r.to_json(user_id) for r in (await self.get_ruleset(user_id)).by_kind(kind)]

    async def get_rule(self, user_id: str, kind: str, rule_id: str) -> PushRule:
        _check_kind(kind)
        return _found(await self._user_rules(user_id), kind, rule_id)

    async def put_rule(
        self, user_id: str, kind: str, rule_id: str, body: dict[str, Any], *, before: str | None, after: str | None
    ) -> None:
        _check_kind(kind)
        try:
            rule = rule_from_request(kind, rule_id, body)
        except InvalidPushRule as e:
            raise MatrixError(400, "M_INVALID_PARAM", str(e)) from None
        for anchor in (before, after):
            if anchor is not None and anchor.startswith("."):
                # pushrules.yaml: rules cannot be placed relative to server-default rules.
                raise MatrixError(400, "M_UNKNOWN", f"Cannot add a rule relative to the server-default rule {anchor}")
        await self._edit(user_id, lambda rules: rules.put(rule, before=before, after=after))

    async def delete_rule(self, user_id: str, kind: str, rule_id: str) -> None:
        _check_kind(kind)
        await self._edit(user_id, lambda rules: rules.delete(kind, rule_id))

    async def set_enabled(self, user_id: str, kind: str, rule_id: str, enabled: bool) -> None:
        _check_kind(kind)
        await self._edit(user_id, lambda rules: rules.set_enabled(kind, rule_id, enabled))

    async def set_actions(self, user_id: str, kind: str, rule_id: str, actions: Any) -> None:
        _check_kind(kind)
        try:
            normalised: tuple[Action, ...] = normalise_actions(actions)
        except InvalidPushRule as e:
            raise MatrixError(400, "M_INVALID_PARAM", str(e)) from None
        await self._edit(user_id, lambda rules: rules.set_actions(kind, rule_id, normalised))

    async def publish(self, user_id: str) -> None:
        """Write the user's rules as m.push_rules account data (e.g. on registration), so
        clients find them in their first /sync."""
        await self._account_data.set_server_managed(user_id, None, PUSH_RULES_TYPE, await self.get_all(user_id))

    async def _user_rules(self, user_id: str) -> UserRules:
        doc = await self._store.get(user_id)
        return UserRules() if doc is None else UserRules.from_json(doc)

    async def _edit(self, user_id: str, change: Callable[[UserRules], UserRules]) -> None:
        async with self._locks.hold(user_id):
            try:
                rules = change(await self._user_rules(user_id))
            except UnknownRule:
                raise not_found("The push rule was not found.") from None
            except InvalidPushRule as e:
                raise MatrixError(400, "M_UNKNOWN", str(e)) from None
            await self._store.put(user_id, rules.to_json())
            self._rulesets[user_id] = DEFAULT_RULESET if rules.is_empty() else build_ruleset(rules)
            await self.publish(user_id)


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise MatrixError(400, "M_INVALID_PARAM", f"Unknown push rule kind {kind!r}")


def _found(rules: UserRules, kind: str, rule_id: str) -> PushRule:
    try:
        return rules.find(kind, rule_id)
    except UnknownRule:
        raise not_found("The push rule was not found.") from None
