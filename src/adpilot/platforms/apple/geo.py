"""Apple geo ids ↔ ISO country codes, looked up with `POST /v1/search/geo` and remembered.

Ad group targeting names countries by Apple's numeric geo ids (`"country": {"include":
["1125"]}`), adpilot by ISO codes. One batch lookup resolves what a sync or a write needs.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

from adpilot.platforms.apple.client import AppleClient

SEARCH_PATH = "/v1/search/geo"


class GeoBook:
    """The country ids of one account's adapter, filled on demand."""

    def __init__(self, client: AppleClient) -> None:
        self._client = client
        self._lock = threading.Lock()
        self.iso_by_id: dict[str, str] = {}
        self.id_by_iso: dict[str, str] = {}

    def isos_for(self, ids: Iterable[str]) -> dict[str, str]:
        """ISO code per geo id (ids Apple does not know are left out)."""
        wanted = sorted({str(i) for i in ids} - set(self.iso_by_id))
        if wanted:
            self._lookup([{"id": i, "entity": "Country"} for i in wanted])
        return dict(self.iso_by_id)

    def ids_for(self, isos: Iterable[str]) -> dict[str, str]:
        """Geo id per ISO code (codes Apple does not know are left out)."""
        wanted = sorted({str(c).upper() for c in isos} - set(self.id_by_iso))
        if wanted:
            self._lookup([{"legacyId": c, "entity": "Country"} for c in wanted])
        return dict(self.id_by_iso)

    def _lookup(self, requests: list[dict[str, Any]]) -> None:
        answer = self._client.request("POST", SEARCH_PATH, requests, supplySource="APPSTORE")
        found = answer.get("result") if isinstance(answer, dict) else None
        with self._lock:
            for entity in found or []:
                if not isinstance(entity, dict) or str(entity.get("entity")) != "Country":
                    continue
                geo_id = str(entity.get("id") or "")
                iso = str(entity.get("countryOrRegion") or entity.get("legacyId") or "").upper()
                if geo_id and iso:
                    self.iso_by_id[geo_id] = iso
                    self.id_by_iso[iso] = geo_id
