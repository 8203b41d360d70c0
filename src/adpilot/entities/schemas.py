"""Request bodies and vocabularies of the entities routes: creative library, reads, metrics."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field
from pydantic.alias_generators import to_camel

from adpilot.kit.body import StrictBody
from adpilot.layers.schemas import PlatformSpelling

ENTITY_STATUSES = ("active", "paused", "archived", "deleted", "in_review", "rejected")
CONTENT_POOLS = ("generated", "ugc", "manual")
METRIC_SCOPES = ("ad", "adset", "campaign", "layer")
METRICS = (
    "spendCents",
    "impressions",
    "clicks",
    "conversions",
    "cpaCents",
    "cpcCents",
    "cpmCents",
    "ctr",
    "frequency",
)
GRANULARITIES = ("day", "week")

Pool = Literal["generated", "ugc", "manual"]
Override = Literal["include", "exclude"]
AssetRef = Annotated[str, Field(min_length=1, max_length=200)]


class AdsContentCreate(StrictBody):
    """`POST …/ads-content`: a creative the optimizer may push or swap in."""

    model_config = ConfigDict(alias_generator=to_camel)

    name: str = Field(min_length=1, max_length=300)
    pool: Pool = "manual"
    organic_score: float = Field(0.0, ge=0, le=10)
    safety_failed: bool = False
    override: Override | None = None
    # Per-platform asset ids (either platform spelling), e.g. {"meta": "<creative id>"}.
    asset_refs: dict[PlatformSpelling, AssetRef] = Field(default_factory=dict)


class AdsContentPatch(StrictBody):
    """`PATCH …/ads-content/{id}`: force a creative in or out of eligibility, or `null` to clear."""

    override: Override | None
