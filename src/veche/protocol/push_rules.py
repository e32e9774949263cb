"""Push rules: the server-default rule set, condition matching and rule editing.

The authority is client-server-api/modules/push.md ("Push Rules", "Conditions",
"Predefined Rules") and the appendices' glob-style matching and dot-separated property
paths. Everything here is pure: the service layer gathers the facts a rule may ask about
(member count, power levels, display names) and hands them in.

A user's rules are kept as `UserRules`: their own rules per kind, in priority order, plus
the `enabled`/`actions` changes they made to server-default rules. `build_ruleset` merges
them with the defaults into a `RuleSet`, the ordered list evaluation walks. Users who never
changed anything share one `DEFAULT_RULESET` object, which lets `evaluate_bulk` evaluate a
message for thousands of them with one pass over the rules.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

OVERRIDE = "override"
CONTENT = "content"
ROOM = "room"
SENDER = "sender"
UNDERRIDE = "underride"
# push.md: "The different kinds of rule, in the order that they are checked".
KINDS: tuple[str, ...] = (OVERRIDE, CONTENT, ROOM, SENDER, UNDERRIDE)

MASTER_RULE_ID = ".m.rule.master"
# push.md "Historical Actions": these MUST be ignored (stripped).
HISTORICAL_ACTIONS = frozenset({"dont_notify", "coalesce"})
MAX_SAFE_INT = 2**53 - 1

_WORD_CHAR = "A-Za-z0-9_"
_MEMBER_COUNT = re.compile(r"^(==|<=|>=|<|>)?([0-9]+)$")


class InvalidPushRule(ValueError):
    """A rule, condition or action a client sent cannot be accepted."""


class UnknownRule(LookupError):
    """No rule of that kind and ID exists (for the API: 404 M_NOT_FOUND)."""


class _UserIdMarker:
    """Stands for "[the user's Matrix ID]" in default rules, resolved per user."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "USER_ID"


USER_ID = _UserIdMarker()

Action = str | Mapping[str, Any]


# --- Conditions -------------------------------------------------------------------------


@dataclass(frozen=True, eq=False, slots=True)
class Condition:
    """One compiled condition. Compared by identity: evaluation memoises per object."""

    kind: str
    raw: Mapping[str, Any]
    path: tuple[str, ...] = ()
    pattern: str | _UserIdMarker | None = None
    value: Any = None
    # Depends on who the rule is evaluated for (user ID placeholder or display name).
    per_user: bool = False

    def to_json(self, user_id: str) -> dict[str, Any]:
        return {k: (user_id if v is USER_ID else v) for k, v in self.raw.items()}


def parse_property_path(key: str) -> tuple[str, ...]:
    """Split a dot-separated property path (appendices: `\\.` is a dot, `\\\\` a backslash)."""
    parts: list[str] = []
    current: list[str] = []
    i = 0
    while i < len(key):
        ch = key[i]
        if ch == "\\" and i + 1 < len(key) and key[i + 1] in ".\\":
            current.append(key[i + 1])
            i += 2
            continue
        if ch == ".":
            parts.append("".join(current))
            current = []
        else:
            # Other escape sequences are kept as-is (a literal backslash).
            current.append(ch)
        i += 1
    parts.append("".join(current))
    return tuple(parts)


def lookup_property(event: Mapping[str, Any], path: Sequence[str]) -> tuple[bool, Any]:
    """(found, value) of the property at `path` in the event."""
    value: Any = event
    for part in path:
        if not isinstance(value, Mapping) or part not in value:
            return False, None
        value = value[part]
    return True, value


def compile_condition(raw: Mapping[str, Any]) -> Condition:
    """A condition from its JSON; unknown or malformed ones compile to a never-matching one."""
    kind = raw.get("kind")
    if not isinstance(kind, str):
        raise InvalidPushRule("A condition needs a string 'kind'")
    if kind == "event_match":
        key, pattern = raw.get("key"), raw.get("pattern")
        if not isinstance(key, str) or not isinstance(pattern, (str, _UserIdMarker)):
            raise InvalidPushRule("event_match needs string 'key' and 'pattern'")
        return Condition(kind, raw, parse_property_path(key), pattern=pattern, per_user=pattern is USER_ID)
    if kind in ("event_property_is", "event_property_contains"):
        key = raw.get("key")
        if not isinstance(key, str) or "value" not in raw:
            raise InvalidPushRule(f"{kind} needs a string 'key' and a 'value'")
        value = raw["value"]
        if not (value is USER_ID or _is_simple_value(value)):
            raise InvalidPushRule(f"{kind} 'value' must be a string, integer, boolean or null")
        return Condition(kind, raw, parse_property_path(key), value=value, per_user=value is USER_ID)
    if kind == "contains_display_name":
        return Condition(kind, raw, per_user=True)
    if kind == "room_member_count":
        is_ = raw.get("is")
        if not isinstance(is_, str):
            raise InvalidPushRule("room_member_count needs a string 'is'")
        return Condition(kind, raw, pattern=is_)
    if kind == "sender_notification_permission":
        key = raw.get("key")
        if not isinstance(key, str):
            raise InvalidPushRule("sender_notification_permission needs a string 'key'")
        return Condition(kind, raw, pattern=key)
    # push.md: "Unrecognised conditions MUST NOT match any events".
    return Condition(kind, raw)


def _is_simple_value(value: Any) -> bool:
    """Non-compound canonical JSON: str, bool, None, or an integer in the safe range."""
    if value is None or isinstance(value, (str, bool)):
        return True
    return isinstance(value, int) and -MAX_SAFE_INT <= value <= MAX_SAFE_INT


def _same_value(a: Any, b: Any) -> bool:
    # No casts: true is not 1 and "true" is not true (push.md, event_property_is).
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a is b
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, str) or isinstance(b, str):
        return isinstance(a, str) and isinstance(b, str) and a == b
    return isinstance(a, int) and isinstance(b, int) and _is_simple_value(a) and a == b


@functools.lru_cache(maxsize=4096)
def _glob_regex(pattern: str, word_boundaries: bool) -> re.Pattern[str]:
    body = "".join(".*?" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    if word_boundaries:
        return re.compile(rf"(?<![{_WORD_CHAR}]){body}(?![{_WORD_CHAR}])", re.IGNORECASE | re.DOTALL)
    return re.compile(rf"{body}\Z", re.IGNORECASE | re.DOTALL)


def glob_matches(pattern: str, value: str, *, word_boundaries: bool = False) -> bool:
    """Glob match (`*` any run, `?` one character), case-insensitive.

    With `word_boundaries`, any substring starting and ending at a word boundary may match
    (how `content.body` is matched); otherwise the whole value must.
    """
    regex = _glob_regex(pattern, word_boundaries)
    if word_boundaries:
        return regex.search(value) is not None
    return regex.match(value) is not None


def member_count_matches(is_: str, count: int) -> bool:
    match = _MEMBER_COUNT.match(is_)
    if match is None:
        return False
    op, number = match.group(1) or "==", int(match.group(2))
    if op == "==":
        return count == number
    if op == "<":
        return count < number
    if op == ">":
        return count > number
    if op == "<=":
        return count <= number
    return count >= number


@dataclass(frozen=True, slots=True)
class EventFacts:
    """What conditions may ask about one event, the same for every recipient."""

    event: Mapping[str, Any]
    member_count: int
    sender_power_level: float
    # Power needed to trigger a notification of a key (e.g. "room"), from power levels.
    notification_level: Callable[[str], int]


def condition_matches(
    condition: Condition, facts: EventFacts, user_id: str, display_name: str | None = None
) -> bool:
    kind = condition.kind
    if kind == "event_match":
        found, value = lookup_property(facts.event, condition.path)
        if not found or not isinstance(value, str):
            return False
        pattern = user_id if condition.pattern is USER_ID else condition.pattern
        assert isinstance(pattern, str)
        return glob_matches(pattern, value, word_boundaries=condition.path == ("content", "body"))
    if kind == "event_property_is":
        found, value = lookup_property(facts.event, condition.path)
        wanted = user_id if condition.value is USER_ID else condition.value
        return found and _is_simple_value(value) and _same_value(value, wanted)
    if kind == "event_property_contains":
        found, value = lookup_property(facts.event, condition.path)
        if not found or not isinstance(value, list):
            return False
        wanted = user_id if condition.value is USER_ID else condition.value
        return any(_is_simple_value(item) and _same_value(item, wanted) for item in value)
    if kind == "contains_display_name":
        body = facts.event.get("content", {}).get("body") if isinstance(facts.event.get("content"), Mapping) else None
        if not display_name or not isinstance(body, str):
            return False
        return _literal_word_regex(display_name).search(body) is not None
    if kind == "room_member_count":
        assert isinstance(condition.pattern, str)
        return member_count_matches(condition.pattern, facts.member_count)
    if kind == "sender_notification_permission":
        assert isinstance(condition.pattern, str)
        return facts.sender_power_level >= facts.notification_level(condition.pattern)
    return False


@functools.lru_cache(maxsize=4096)
def _literal_word_regex(text: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![{_WORD_CHAR}]){re.escape(text)}(?![{_WORD_CHAR}])", re.IGNORECASE)


# --- Actions ----------------------------------------------------------------------------


def normalise_actions(actions: Any) -> tuple[Action, ...]:
    """Validate a client's actions and strip the historical ones."""
    if not isinstance(actions, list):
        raise InvalidPushRule("'actions' must be a list")
    kept: list[Action] = []
    for action in actions:
        if action == "notify":
            kept.append(action)
        elif isinstance(action, str) and action in HISTORICAL_ACTIONS:
            continue
        elif isinstance(action, Mapping) and isinstance(action.get("set_tweak"), str):
            kept.append(dict(action))
        else:
            raise InvalidPushRule(f"Unrecognised action {action!r}")
    return tuple(kept)


def is_notify(actions: Iterable[Action]) -> bool:
    return "notify" in actions


def tweaks(actions: Iterable[Action]) -> dict[str, Any]:
    """The tweaks the actions set; a `highlight` tweak without a value is true."""
    result: dict[str, Any] = {}
    for action in actions:
        if isinstance(action, Mapping) and isinstance(action.get("set_tweak"), str):
            name = action["set_tweak"]
            result[name] = action.get("value", True) if name == "highlight" else action.get("value")
    return result


def is_highlight(actions: Iterable[Action]) -> bool:
    return tweaks(actions).get("highlight") is True


# --- Rules ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PushRule:
    kind: str
    rule_id: str
    actions: tuple[Action, ...]
    default: bool = False
    enabled: bool = True
    conditions: tuple[Condition, ...] = ()
    pattern: str | None = None
    # The conditions evaluation checks: the explicit ones, or those a content, room or
    # sender rule implies.
    effective: tuple[Condition, ...] = field(default=(), compare=False)

    def to_json(self, user_id: str) -> dict[str, Any]:
        """The rule as push_rule.yaml describes it, placeholders resolved for `user_id`."""
        out: dict[str, Any] = {
            "rule_id": self.rule_id,
            "default": self.default,
            "enabled": self.enabled,
            "actions": [dict(a) if isinstance(a, Mapping) else a for a in self.actions],
        }
        if self.kind in (OVERRIDE, UNDERRIDE):
            out["conditions"] = [c.to_json(user_id) for c in self.conditions]
        if self.kind == CONTENT and self.pattern is not None:
            out["pattern"] = self.pattern
        return out


def make_rule(
    kind: str,
    rule_id: str,
    actions: Sequence[Action],
    *,
    conditions: Sequence[Mapping[str, Any]] = (),
    pattern: str | None = None,
    default: bool = False,
    enabled: bool = True,
) -> PushRule:
    compiled = tuple(compile_condition(c) for c in conditions)
    if kind == CONTENT:
        if pattern is None:
            raise InvalidPushRule("A content rule needs a 'pattern'")
        effective: tuple[Condition, ...] = (
            compile_condition({"kind": "event_match", "key": "content.body", "pattern": pattern}),
        )
    elif kind == ROOM:
        effective = (compile_condition({"kind": "event_property_is", "key": "room_id", "value": rule_id}),)
    elif kind == SENDER:
        effective = (compile_condition({"kind": "event_property_is", "key": "sender", "value": rule_id}),)
    else:
        effective = compiled
    return PushRule(kind, rule_id, tuple(actions), default, enabled, compiled, pattern, effective)


def rule_from_request(kind: str, rule_id: str, body: Mapping[str, Any]) -> PushRule:
    """A user-defined rule from a PUT /pushrules/global/{kind}/{ruleId} body."""
    if kind not in KINDS:
        raise InvalidPushRule(f"Unknown rule kind {kind!r}")
    check_user_rule_id(rule_id)
    actions = normalise_actions(body.get("actions"))
    if kind in (OVERRIDE, UNDERRIDE):
        conditions = body.get("conditions", [])
        if not isinstance(conditions, list) or not all(isinstance(c, Mapping) for c in conditions):
            raise InvalidPushRule("'conditions' must be a list of objects")
        return make_rule(kind, rule_id, actions, conditions=conditions)
    if kind == CONTENT:
        pattern = body.get("pattern")
        if not isinstance(pattern, str):
            raise InvalidPushRule("A content rule needs a string 'pattern'")
        return make_rule(kind, rule_id, actions, pattern=pattern)
    return make_rule(kind, rule_id, actions)


def check_user_rule_id(rule_id: str) -> None:
    # pushrules.yaml: ruleIds starting with "." are reserved; "/" and "\" are not allowed.
    if not rule_id or rule_id.startswith("."):
        raise InvalidPushRule("Rule IDs starting with '.' are reserved for server-default rules")
    if "/" in rule_id or "\\" in rule_id:
        raise InvalidPushRule("Rule IDs cannot contain '/' or '\\'")


def _default(kind: str, rule_id: str, conditions: list[dict[str, Any]], actions: list[Action], enabled: bool = True) -> PushRule:
    return make_rule(kind, rule_id, actions, conditions=conditions, default=True, enabled=enabled)


def _match(key: str, pattern: str | _UserIdMarker) -> dict[str, Any]:
    return {"kind": "event_match", "key": key, "pattern": pattern}


_SOUND_DEFAULT = {"set_tweak": "sound", "value": "default"}
_HIGHLIGHT = {"set_tweak": "highlight"}

# push.md "Default Override Rules", in the spec's order (master first, always).
DEFAULT_OVERRIDE_RULES: tuple[PushRule, ...] = (
    _default(OVERRIDE, MASTER_RULE_ID, [], [], enabled=False),
    _default(OVERRIDE, ".m.rule.suppress_notices", [_match("content.msgtype", "m.notice")], []),
    _default(
        OVERRIDE,
        ".m.rule.invite_for_me",
        [_match("type", "m.room.member"), _match("content.membership", "invite"), _match("state_key", USER_ID)],
        ["notify", _SOUND_DEFAULT],
    ),
    _default(OVERRIDE, ".m.rule.member_event", [_match("type", "m.room.member")], []),
    _default(
        OVERRIDE,
        ".m.rule.is_user_mention",
        [{"kind": "event_property_contains", "key": "content.m\\.mentions.user_ids", "value": USER_ID}],
        ["notify", _SOUND_DEFAULT, _HIGHLIGHT],
    ),
    _default(
        OVERRIDE,
        ".m.rule.is_room_mention",
        [
            {"kind": "event_property_is", "key": "content.m\\.mentions.room", "value": True},
            {"kind": "sender_notification_permission", "key": "room"},
        ],
        ["notify", _HIGHLIGHT],
    ),
    _default(
        OVERRIDE,
        ".m.rule.tombstone",
        [_match("type", "m.room.tombstone"), _match("state_key", "")],
        ["notify", _HIGHLIGHT],
    ),
    _default(OVERRIDE, ".m.rule.reaction", [_match("type", "m.reaction")], []),
    _default(
        OVERRIDE, ".m.rule.room.server_acl", [_match("type", "m.room.server_acl"), _match("state_key", "")], []
    ),
    _default(
        OVERRIDE,
        ".m.rule.suppress_edits",
        [{"kind": "event_property_is", "key": "content.m\\.relates_to.rel_type", "value": "m.replace"}],
        [],
    ),
)

# push.md "Default Underride Rules". The legacy body-matching content and override rules
# (.m.rule.contains_user_name, .contains_display_name, .roomnotif) were removed in v1.17.
DEFAULT_UNDERRIDE_RULES: tuple[PushRule, ...] = (
    _default(UNDERRIDE, ".m.rule.call", [_match("type", "m.call.invite")], ["notify", {"set_tweak": "sound", "value": "ring"}]),
    _default(
        UNDERRIDE,
        ".m.rule.encrypted_room_one_to_one",
        [{"kind": "room_member_count", "is": "2"}, _match("type", "m.room.encrypted")],
        ["notify", _SOUND_DEFAULT],
    ),
    _default(
        UNDERRIDE,
        ".m.rule.room_one_to_one",
        [{"kind": "room_member_count", "is": "2"}, _match("type", "m.room.message")],
        ["notify", _SOUND_DEFAULT],
    ),
    _default(UNDERRIDE, ".m.rule.message", [_match("type", "m.room.message")], ["notify"]),
    _default(UNDERRIDE, ".m.rule.encrypted", [_match("type", "m.room.encrypted")], ["notify"]),
)

DEFAULT_RULES: Mapping[str, tuple[PushRule, ...]] = {
    OVERRIDE: DEFAULT_OVERRIDE_RULES,
    CONTENT: (),
    ROOM: (),
    SENDER: (),
    UNDERRIDE: DEFAULT_UNDERRIDE_RULES,
}
_DEFAULT_BY_ID: Mapping[str, PushRule] = {r.rule_id: r for rules in DEFAULT_RULES.values() for r in rules}


@dataclass(frozen=True, slots=True)
class DefaultRuleChange:
    """What a user changed of a server-default rule."""

    enabled: bool | None = None
    actions: tuple[Action, ...] | None = None


@dataclass(frozen=True, slots=True)
class UserRules:
    """A user's own rules (per kind, most important first) and default-rule changes."""

    custom: Mapping[str, tuple[PushRule, ...]] = field(default_factory=dict)
    default_changes: Mapping[str, DefaultRuleChange] = field(default_factory=dict)

    def is_empty(self) -> bool:
        return not any(self.custom.values()) and not self.default_changes

    def to_json(self) -> dict[str, Any]:
        """The stored form (not what clients see: see `RuleSet.to_json`)."""
        return {
            "custom": {
                kind: [_stored_rule(r) for r in rules] for kind, rules in self.custom.items() if rules
            },
            "defaults": {
                rule_id: {
                    **({"enabled": c.enabled} if c.enabled is not None else {}),
                    **({"actions": list(c.actions)} if c.actions is not None else {}),
                }
                for rule_id, c in self.default_changes.items()
            },
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> UserRules:
        custom: dict[str, tuple[PushRule, ...]] = {}
        for kind, rules in data.get("custom", {}).items():
            custom[kind] = tuple(
                make_rule(
                    kind,
                    r["rule_id"],
                    tuple(r["actions"]),
                    conditions=r.get("conditions", ()),
                    pattern=r.get("pattern"),
                    enabled=r.get("enabled", True),
                )
                for r in rules
            )
        changes = {
            rule_id: DefaultRuleChange(
                c.get("enabled"), tuple(c["actions"]) if "actions" in c else None
            )
            for rule_id, c in data.get("defaults", {}).items()
        }
        return cls(custom, changes)

    # -- edits (each returns a new UserRules) --

    def find(self, kind: str, rule_id: str) -> PushRule:
        if rule_id.startswith("."):
            default = _DEFAULT_BY_ID.get(rule_id)
            if default is None or default.kind != kind:
                raise UnknownRule(rule_id)
            return self._changed_default(default)
        for rule in self.custom.get(kind, ()):
            if rule.rule_id == rule_id:
                return rule
        raise UnknownRule(rule_id)

    def put(self, rule: PushRule, *, before: str | None = None, after: str | None = None) -> UserRules:
        """Add or replace a user rule (pushrules.yaml setPushRule).

        `before` wins when both are given; a new rule without either goes first among the
        user's rules of its kind; a replaced rule without either keeps its place.
        """
        rules = list(self.custom.get(rule.kind, ()))
        index = next((i for i, r in enumerate(rules) if r.rule_id == rule.rule_id), None)
        if index is not None and before is None and after is None:
            rules[index] = rule
        else:
            if index is not None:
                del rules[index]
            anchor = before if before is not None else after
            if anchor is None:
                rules.insert(0, rule)
            else:
                position = next((i for i, r in enumerate(rules) if r.rule_id == anchor), None)
                if position is None:
                    raise InvalidPushRule(f"before/after rule not found: {anchor}")
                rules.insert(position if before is not None else position + 1, rule)
        return replace(self, custom={**self.custom, rule.kind: tuple(rules)})

    def delete(self, kind: str, rule_id: str) -> UserRules:
        rules = self.custom.get(kind, ())
        kept = tuple(r for r in rules if r.rule_id != rule_id)
        if len(kept) == len(rules):
            if rule_id.startswith(".") and rule_id in _DEFAULT_BY_ID:
                raise InvalidPushRule("Server-default rules cannot be deleted")
            raise UnknownRule(rule_id)
        return replace(self, custom={**self.custom, kind: kept})

    def set_enabled(self, kind: str, rule_id: str, enabled: bool) -> UserRules:
        return self._change(kind, rule_id, enabled=enabled)

    def set_actions(self, kind: str, rule_id: str, actions: tuple[Action, ...]) -> UserRules:
        return self._change(kind, rule_id, actions=actions)

    def _change(self, kind: str, rule_id: str, **changes: Any) -> UserRules:
        rule = self.find(kind, rule_id)
        if rule.default:
            previous = self.default_changes.get(rule_id, DefaultRuleChange())
            return replace(
                self, default_changes={**self.default_changes, rule_id: replace(previous, **changes)}
            )
        rules = tuple(replace(r, **changes) if r.rule_id == rule_id else r for r in self.custom[kind])
        return replace(self, custom={**self.custom, kind: rules})

    def _changed_default(self, rule: PushRule) -> PushRule:
        change = self.default_changes.get(rule.rule_id)
        if change is None:
            return rule
        if change.enabled is not None:
            rule = replace(rule, enabled=change.enabled)
        if change.actions is not None:
            rule = replace(rule, actions=change.actions)
        return rule


def _stored_rule(rule: PushRule) -> dict[str, Any]:
    out: dict[str, Any] = {
        "rule_id": rule.rule_id,
        "enabled": rule.enabled,
        "actions": [dict(a) if isinstance(a, Mapping) else a for a in rule.actions],
    }
    if rule.kind in (OVERRIDE, UNDERRIDE):
        out["conditions"] = [dict(c.raw) for c in rule.conditions]
    if rule.pattern is not None:
        out["pattern"] = rule.pattern
    return out


@dataclass(frozen=True, slots=True)
class _CompiledRule:
    rule: PushRule
    shared: tuple[Condition, ...]
    per_user: tuple[Condition, ...]


@dataclass(frozen=True, eq=False, slots=True)
class RuleSet:
    """Every rule of a user in evaluation order (push.md: master, then per kind user
    rules before server-default ones)."""

    rules: tuple[PushRule, ...]
    _enabled: tuple[_CompiledRule, ...]
    needs_display_name: bool

    def by_kind(self, kind: str) -> list[PushRule]:
        return [r for r in self.rules if r.kind == kind]

    def to_json(self, user_id: str) -> dict[str, list[dict[str, Any]]]:
        """The `global` ruleset (push_ruleset.yaml)."""
        return {kind: [r.to_json(user_id) for r in self.by_kind(kind)] for kind in KINDS}


def build_ruleset(user_rules: UserRules) -> RuleSet:
    ordered: list[PushRule] = []
    for kind in KINDS:
        defaults = [user_rules._changed_default(r) for r in DEFAULT_RULES[kind]]
        if kind == OVERRIDE:
            # push.md: master always beats every other rule, even user-defined ones.
            ordered.append(defaults[0])
            defaults = defaults[1:]
        ordered.extend(user_rules.custom.get(kind, ()))
        ordered.extend(defaults)
    enabled = tuple(
        _CompiledRule(
            r,
            tuple(c for c in r.effective if not c.per_user),
            tuple(c for c in r.effective if c.per_user),
        )
        for r in ordered
        if r.enabled
    )
    needs_display_name = any(c.kind == "contains_display_name" for r in enabled for c in r.per_user)
    return RuleSet(tuple(ordered), enabled, needs_display_name)


DEFAULT_RULESET = build_ruleset(UserRules())


def evaluate_bulk(
    facts: EventFacts,
    rulesets: Mapping[str, RuleSet],
    display_names: Mapping[str, str] | None = None,
) -> dict[str, tuple[Action, ...]]:
    """user ID → the actions of the first matching rule, for users with a matching rule.

    Users sharing a RuleSet object are evaluated together: conditions that do not depend on
    the user are checked once per event, and only those that do (the user ID placeholder,
    display name) are checked per user. The caller leaves out the event's sender.
    """
    groups: dict[int, tuple[RuleSet, list[str]]] = {}
    for user_id, ruleset in rulesets.items():
        groups.setdefault(id(ruleset), (ruleset, []))[1].append(user_id)
    names = display_names or {}
    memo: dict[int, bool] = {}

    def shared_ok(condition: Condition) -> bool:
        result = memo.get(id(condition))
        if result is None:
            result = memo[id(condition)] = condition_matches(condition, facts, "")
        return result

    results: dict[str, tuple[Action, ...]] = {}
    for ruleset, users in groups.values():
        remaining = users
        for compiled in ruleset._enabled:
            if not remaining:
                break
            if not all(shared_ok(c) for c in compiled.shared):
                continue
            if not compiled.per_user:
                matched, remaining = remaining, []
            else:
                candidates = _user_candidates(compiled.per_user, facts, remaining)
                matched = [
                    u
                    for u in candidates
                    if all(condition_matches(c, facts, u, names.get(u)) for c in compiled.per_user)
                ]
                if matched:
                    taken = set(matched)
                    remaining = [u for u in remaining if u not in taken]
            actions = compiled.rule.actions
            for user_id in matched:
                results[user_id] = actions
    return results


def _user_candidates(conditions: tuple[Condition, ...], facts: EventFacts, users: list[str]) -> list[str]:
    """The users who may pass these per-user conditions: a superset, cheap to compute.

    A condition naming "the user's ID" can only hold for a user whose ID is the property's
    value (or in its list), so the event is looked at once instead of once per user; a
    message that mentions nobody then costs nothing per member.
    """
    for condition in conditions:
        if condition.kind not in ("event_match", "event_property_is", "event_property_contains"):
            continue
        if condition.kind == "event_match" and condition.path == ("content", "body"):
            continue
        found, value = lookup_property(facts.event, condition.path)
        if condition.kind == "event_property_contains":
            named = {v for v in value if isinstance(v, str)} if found and isinstance(value, list) else set()
        else:
            named = {value} if found and isinstance(value, str) else set()
        if not named:
            return []
        if condition.kind == "event_match":
            # Case-insensitive; the full check runs on the candidates afterwards.
            lowered = {v.lower() for v in named}
            return [u for u in users if u.lower() in lowered]
        return [u for u in users if u in named]
    return users


def evaluate(
    facts: EventFacts, user_id: str, ruleset: RuleSet, display_name: str | None = None
) -> tuple[Action, ...] | None:
    """The actions of the first matching rule for one user, or None if none matches."""
    names = {user_id: display_name} if display_name else None
    return evaluate_bulk(facts, {user_id: ruleset}, names).get(user_id)
