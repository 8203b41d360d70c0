"""Request bodies of the authority routes: layer defaults and per-campaign authority (SPEC §5)."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict
from pydantic.alias_generators import to_camel

from adpilot.kit.body import PartialBody, StrictBody

Mode = Literal["off", "draft", "auto"]


class AuthorityPatch(PartialBody):
    """A partial authority block: only the axes given change."""

    creative: Mode | None = None
    tactical: Mode | None = None
    structural: Mode | None = None

    def modes(self) -> dict[str, str]:
        return {axis: str(mode) for axis, mode in self.given().items()}


class DefaultsPatch(PartialBody):
    """`PATCH …/{platform}/defaults`: any of defaults, killSwitchActive, ceiling."""

    model_config = ConfigDict(alias_generator=to_camel)

    defaults: AuthorityPatch | None = None
    kill_switch_active: bool | None = None
    ceiling: AuthorityPatch | None = None


class CampaignAuthorityPatch(StrictBody):
    """`PATCH …/campaigns/{campaignId}/authority`: a partial block pins, `null` unpins."""

    # Required and nullable: `{}` is a mistake, `{"authority": null}` is a deliberate unpin.
    authority: AuthorityPatch | None
