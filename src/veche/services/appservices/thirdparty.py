"""Third-party network lookups (modules/third_party_networks.md), answered by the
application services that declare the protocol in their registration (protocols.yaml).

A service that cannot be reached or answers wrongly is left out of the answer; a
protocol no registered service declares is unknown (404).
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from veche.errors import not_found
from veche.protocol.appservice import Registration
from veche.services.appservices.client import AppServiceError
from veche.services.appservices.registry import AppServices

logger = logging.getLogger(__name__)


class ThirdPartyLookups:
    def __init__(self, appservices: AppServices) -> None:
        self._appservices = appservices

    async def protocols(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for protocol in sorted({p for reg in self._services() for p in reg.protocols}):
            answer = await self._protocol(protocol)
            if answer is not None:
                found[protocol] = answer
        return found

    async def protocol(self, protocol: str) -> dict[str, Any]:
        answer = await self._protocol(protocol)
        if answer is None:
            raise not_found(f"Unknown protocol {protocol!r}")
        return answer

    async def lookup(self, kind: str, protocol: str, query: dict[str, str]) -> list[Any]:
        """`kind` is "location" or "user": the matches for the protocol's fields in `query`."""
        services = [reg for reg in self._services() if protocol in reg.protocols]
        if not services:
            raise not_found(f"Unknown protocol {protocol!r}")
        path = f"/thirdparty/{kind}/{quote(protocol, safe='')}"
        return await self._gather(services, path, query)

    async def reverse_lookup(self, kind: str, query: dict[str, str]) -> list[Any]:
        """`kind` "location" by `alias`, "user" by `userid`: asked of every service with protocols."""
        return await self._gather(self._services(), f"/thirdparty/{kind}", query)

    def _services(self) -> list[Registration]:
        return [reg for reg in self._appservices.registrations if reg.url is not None and reg.protocols]

    async def _protocol(self, protocol: str) -> dict[str, Any] | None:
        merged: dict[str, Any] | None = None
        for reg in self._services():
            if protocol not in reg.protocols:
                continue
            answer = await self._ask(reg, f"/thirdparty/protocol/{quote(protocol, safe='')}", {})
            if not isinstance(answer, dict):
                continue
            if merged is None:
                merged = {**answer, "instances": list(answer.get("instances") or [])}
            else:
                # Two services bridging one protocol: one description, both's instances.
                merged["instances"].extend(answer.get("instances") or [])
        return merged

    async def _gather(self, services: list[Registration], path: str, query: dict[str, str]) -> list[Any]:
        results: list[Any] = []
        for reg in services:
            answer = await self._ask(reg, path, query)
            if isinstance(answer, list):
                results.extend(item for item in answer if isinstance(item, dict))
        return results

    async def _ask(self, reg: Registration, path: str, query: dict[str, str]) -> Any:
        try:
            return await self._appservices.client.thirdparty(reg, path, query)
        except AppServiceError as e:
            logger.info("Appservice %s: %s failed: %s", reg.id, path, e)
            return None
