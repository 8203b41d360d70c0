"""Entity reads and metrics (SPEC §7): rows, filters, keyset pages, SQL-aggregated series."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from adpilot.bootstrap import bootstrap_org
from adpilot.config import Settings
from adpilot.db import transaction
from adpilot.entities.models import Ad, AdDailyMetric, AdSet, Campaign
from adpilot.kit.ids import new_id
from tests.conftest import Api

T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


@dataclass
class Seeded:
    meta_campaign: str
    meta_campaign_2: str
    tiktok_campaign: str
    adset_1: str
    adset_2: str
    tiktok_adset: str
    ad_1: str
    ad_2: str
    ad_3: str
    tiktok_ad: str


def _campaign(boot: dict[str, Any], platform: str, name: str, status: str, age: int) -> Campaign:
    return Campaign(
        id=new_id("cmp"),
        layer_id=boot["layers"][f"{platform}_ads"],
        project_id=boot["projectId"],
        platform=platform,
        external_id=f"ext-{name}",
        name=name,
        status=status,
        budget_mode="campaign",
        daily_budget_cents=5000,
        created_at=T0 + dt.timedelta(hours=age),
        synced_at=T0,
    )


def _adset(campaign: Campaign, name: str, status: str, age: int) -> AdSet:
    return AdSet(
        id=new_id("adg"),
        campaign_id=campaign.id,
        layer_id=campaign.layer_id,
        project_id=campaign.project_id,
        external_id=f"ext-{name}",
        name=name,
        status=status,
        daily_budget_cents=None,
        targeting={"geo": ["US", "CA"]},
        schedule={"dayparts": list(range(24))},
        learning="learned",
        created_at=T0 + dt.timedelta(hours=age),
        synced_at=T0,
    )


def _ad(adset: AdSet, name: str, status: str, age: int) -> Ad:
    return Ad(
        id=new_id("ad"),
        adset_id=adset.id,
        campaign_id=adset.campaign_id,
        layer_id=adset.layer_id,
        project_id=adset.project_id,
        external_id=f"ext-{name}",
        name=name,
        status=status,
        creative_external_id=None,
        ads_content_id=None,
        created_at=T0 + dt.timedelta(hours=age),
        synced_at=T0,
    )


def _metric(
    ad: Ad, day: str, spend: int, imps: int, clicks: int, conv: int, freq: float | None
) -> AdDailyMetric:
    return AdDailyMetric(
        ad_id=ad.id,
        date=dt.date.fromisoformat(day),
        layer_id=ad.layer_id,
        spend_cents=spend,
        impressions=imps,
        clicks=clicks,
        conversions=conv,
        frequency=freq,
    )


@pytest.fixture()
def seeded(boot: dict[str, Any], session_factory: sessionmaker[Session]) -> Seeded:
    c1 = _campaign(boot, "meta", "Prospecting", "active", 0)
    c2 = _campaign(boot, "meta", "Retargeting", "paused", 1)
    c3 = _campaign(boot, "tiktok", "TikTok launch", "active", 2)
    s1 = _adset(c1, "US 18-34", "active", 3)
    s2 = _adset(c1, "CA 35+", "paused", 4)
    s3 = _adset(c3, "TT broad", "active", 5)
    a1 = _ad(s1, "Video A", "active", 6)
    a2 = _ad(s1, "Video B", "paused", 7)
    a3 = _ad(s2, "Static C", "active", 8)
    a4 = _ad(s3, "TT clip", "in_review", 9)
    metrics = [
        _metric(a1, "2026-03-02", 1000, 2000, 40, 4, 1.5),
        _metric(a1, "2026-03-03", 500, 1000, 10, 0, 2.0),
        _metric(a2, "2026-03-02", 0, 0, 0, 0, None),
        _metric(a3, "2026-03-09", 2000, 4000, 100, 10, None),
        _metric(a4, "2026-03-02", 9999, 9999, 99, 9, 1.0),
    ]
    with transaction(session_factory) as session:
        for group in ([c1, c2, c3], [s1, s2, s3], [a1, a2, a3, a4], metrics):
            session.add_all(group)
            session.flush()
    return Seeded(c1.id, c2.id, c3.id, s1.id, s2.id, s3.id, a1.id, a2.id, a3.id, a4.id)


def project_path(boot: dict[str, Any], rest: str) -> str:
    return f"/v1/projects/{boot['projectId']}/{rest}"


def ids(response: Any, key: str) -> list[str]:
    assert response.status_code == 200, response.text
    return [row[key] for row in response.json()["items"]]


def field_of(response: Any) -> str:
    assert response.status_code == 422, response.text
    field: str = response.json()["error"]["details"]["fields"][0]["field"]
    return field


# --- rows ----------------------------------------------------------------------------------------


def test_campaign_rows_are_exactly_as_specified_newest_first(
    partner: Api, boot: dict[str, Any], seeded: Seeded
) -> None:
    r = partner.get(project_path(boot, "ads/campaigns"))
    items = r.json()["items"]
    assert [c["campaignId"] for c in items] == [
        seeded.tiktok_campaign,
        seeded.meta_campaign_2,
        seeded.meta_campaign,
    ]
    assert r.json()["nextCursor"] is None
    assert items[-1] == {
        "campaignId": seeded.meta_campaign,
        "externalId": "ext-Prospecting",
        "layerId": boot["layers"]["meta_ads"],
        "platform": "meta_ads",
        "name": "Prospecting",
        "status": "active",
        "budgetMode": "campaign",
        "dailyBudgetCents": 5000,
        "createdAt": "2026-03-01T12:00:00Z",
    }


def test_adset_and_ad_rows_are_exactly_as_specified(
    partner: Api, boot: dict[str, Any], seeded: Seeded
) -> None:
    adsets = partner.get(project_path(boot, "ads/adsets")).json()["items"]
    assert adsets[-1] == {
        "adsetId": seeded.adset_1,
        "campaignId": seeded.meta_campaign,
        "externalId": "ext-US 18-34",
        "name": "US 18-34",
        "status": "active",
        "dailyBudgetCents": None,
        "targeting": {"geo": ["US", "CA"]},
        "schedule": {"dayparts": list(range(24))},
        "learning": "learned",
        "createdAt": "2026-03-01T15:00:00Z",
    }
    ads = partner.get(project_path(boot, "ads/ads")).json()["items"]
    assert ads[-1] == {
        "adId": seeded.ad_1,
        "adsetId": seeded.adset_1,
        "campaignId": seeded.meta_campaign,
        "externalId": "ext-Video A",
        "name": "Video A",
        "status": "active",
        "adsContentId": None,
        "createdAt": "2026-03-01T18:00:00Z",
    }


def test_filters_narrow_the_lists(partner: Api, boot: dict[str, Any], seeded: Seeded) -> None:
    campaigns = project_path(boot, "ads/campaigns")
    assert ids(partner.get(campaigns, params={"platforms": "tiktok_ads"}), "campaignId") == [
        seeded.tiktok_campaign
    ]
    # Either spelling, repeated or comma-separated, all mean the same.
    assert ids(partner.get(campaigns, params={"platforms": "meta"}), "campaignId") == ids(
        partner.get(campaigns, params={"platforms": "meta_ads"}), "campaignId"
    )
    both = ids(partner.get(campaigns, params={"platforms": "meta,tiktok"}), "campaignId")
    assert both == ids(
        partner.get(campaigns, params=[("platforms", "meta_ads"), ("platforms", "tiktok")]),
        "campaignId",
    )
    assert len(both) == 3
    assert ids(partner.get(campaigns, params={"status": "paused"}), "campaignId") == [
        seeded.meta_campaign_2
    ]

    adsets = project_path(boot, "ads/adsets")
    assert ids(partner.get(adsets, params={"campaignId": seeded.meta_campaign}), "adsetId") == [
        seeded.adset_2,
        seeded.adset_1,
    ]
    assert ids(partner.get(adsets, params={"platforms": "tiktok"}), "adsetId") == [
        seeded.tiktok_adset
    ]

    ads = project_path(boot, "ads/ads")
    assert ids(partner.get(ads, params={"adsetId": seeded.adset_1}), "adId") == [
        seeded.ad_2,
        seeded.ad_1,
    ]
    assert ids(partner.get(ads, params={"campaignId": seeded.meta_campaign}), "adId") == [
        seeded.ad_3,
        seeded.ad_2,
        seeded.ad_1,
    ]
    assert ids(
        partner.get(ads, params={"status": "active,in_review", "platforms": "meta"}), "adId"
    ) == [seeded.ad_3, seeded.ad_1]


def test_id_filters_take_many_values(partner: Api, boot: dict[str, Any], seeded: Seeded) -> None:
    ads = project_path(boot, "ads/ads")
    both = [seeded.meta_campaign, seeded.tiktok_campaign]
    repeated = ids(partner.get(ads, params=[("campaignId", c) for c in both]), "adId")
    commas = ids(partner.get(ads, params={"campaignId": ",".join(both)}), "adId")
    assert repeated == commas == [seeded.tiktok_ad, seeded.ad_3, seeded.ad_2, seeded.ad_1]
    assert ids(
        partner.get(ads, params={"adsetId": f"{seeded.adset_1},{seeded.tiktok_adset}"}), "adId"
    ) == [
        seeded.tiktok_ad,
        seeded.ad_2,
        seeded.ad_1,
    ]

    campaigns = project_path(boot, "ads/campaigns")
    assert ids(
        partner.get(campaigns, params={"campaignId": seeded.tiktok_campaign}), "campaignId"
    ) == [seeded.tiktok_campaign]
    assert ids(partner.get(campaigns, params={"campaignId": "cmp_nope"}), "campaignId") == []

    adsets = project_path(boot, "ads/adsets")
    picked = [seeded.adset_1, seeded.tiktok_adset]
    assert ids(partner.get(adsets, params=[("adsetId", a) for a in picked]), "adsetId") == [
        seeded.tiktok_adset,
        seeded.adset_1,
    ]


def test_bad_filters_are_422(partner: Api, boot: dict[str, Any], seeded: Seeded) -> None:
    campaigns = project_path(boot, "ads/campaigns")
    assert field_of(partner.get(campaigns, params={"platforms": "snapchat"})) == "platforms"
    assert field_of(partner.get(campaigns, params={"status": "running"})) == "status"
    assert field_of(partner.get(campaigns, params={"limit": 0})) == "limit"
    assert field_of(partner.get(campaigns, params={"limit": 201})) == "limit"
    assert partner.get(campaigns, params={"limit": 200}).status_code == 200


def test_pages_cover_every_row_once(partner: Api, boot: dict[str, Any], seeded: Seeded) -> None:
    path = project_path(boot, "ads/ads")
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 1}
        if cursor:
            params["cursor"] = cursor
        r = partner.get(path, params=params)
        seen += ids(r, "adId")
        cursor = r.json()["nextCursor"]
        pages += 1
        if cursor is None:
            break
    assert pages == 4
    assert seen == [seeded.tiktok_ad, seeded.ad_3, seeded.ad_2, seeded.ad_1]

    first = partner.get(path, params={"limit": 2, "status": "active"}).json()
    # A cursor is bound to its filters and its list.
    r = partner.get(path, params={"limit": 2, "cursor": first["nextCursor"]})
    assert field_of(r) == "cursor"
    r = partner.get(project_path(boot, "ads/adsets"), params={"cursor": first["nextCursor"]})
    assert field_of(r) == "cursor"
    assert field_of(partner.get(path, params={"cursor": "not-a-cursor"})) == "cursor"


def test_lists_default_to_one_hundred_rows(
    partner: Api, boot: dict[str, Any], session_factory: sessionmaker[Session]
) -> None:
    with transaction(session_factory) as session:
        session.add_all(_campaign(boot, "apple", f"C{i}", "active", i) for i in range(101))
    r = partner.get(project_path(boot, "ads/campaigns"))
    assert len(r.json()["items"]) == 100
    rest = partner.get(
        project_path(boot, "ads/campaigns"), params={"cursor": r.json()["nextCursor"]}
    )
    assert len(rest.json()["items"]) == 1
    assert rest.json()["nextCursor"] is None
    assert rest.json()["items"][0]["name"] == "C0"


# --- metrics -------------------------------------------------------------------------------------


def metrics(partner: Api, boot: dict[str, Any], **params: Any) -> dict[str, Any]:
    r = partner.get(project_path(boot, "ads-metrics"), params=params)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def test_daily_series_of_one_ad_with_derived_metrics(
    partner: Api, boot: dict[str, Any], seeded: Seeded
) -> None:
    body = metrics(
        partner, boot, scope="ad", id=seeded.ad_1, since="2026-03-02", until="2026-03-04"
    )
    assert body["series"] == [
        {
            "date": "2026-03-02",
            "spendCents": 1000,
            "impressions": 2000,
            "clicks": 40,
            "conversions": 4,
            "cpaCents": 250,
            "cpcCents": 25,
            "cpmCents": 500,
            "ctr": 0.02,
            "frequency": 1.5,
        },
        # No conversions: CPA is undefined, not zero.
        {
            "date": "2026-03-03",
            "spendCents": 500,
            "impressions": 1000,
            "clicks": 10,
            "conversions": 0,
            "cpaCents": None,
            "cpcCents": 50,
            "cpmCents": 500,
            "ctr": 0.01,
            "frequency": 2.0,
        },
        # A day without delivery is in the series, with zeros.
        {
            "date": "2026-03-04",
            "spendCents": 0,
            "impressions": 0,
            "clicks": 0,
            "conversions": 0,
            "cpaCents": None,
            "cpcCents": None,
            "cpmCents": None,
            "ctr": None,
            "frequency": None,
        },
    ]
    # Totals derive from summed counts (not averaged ratios); frequency is impression-weighted.
    assert body["totals"] == {
        "spendCents": 1500,
        "impressions": 3000,
        "clicks": 50,
        "conversions": 4,
        "cpaCents": 375,
        "cpcCents": 30,
        "cpmCents": 500,
        "ctr": 0.016667,
        "frequency": 1.6667,
    }


def test_weekly_series_of_a_campaign_sums_its_ads(
    partner: Api, boot: dict[str, Any], seeded: Seeded
) -> None:
    body = metrics(
        partner,
        boot,
        scope="campaign",
        id=seeded.meta_campaign,
        since="2026-03-02",
        until="2026-03-15",
        granularity="week",
        metrics=["spendCents", "conversions", "cpaCents"],
    )
    assert body["series"] == [
        {"date": "2026-03-02", "spendCents": 1500, "conversions": 4, "cpaCents": 375},
        {"date": "2026-03-09", "spendCents": 2000, "conversions": 10, "cpaCents": 200},
    ]
    assert body["totals"] == {"spendCents": 3500, "conversions": 14, "cpaCents": 250}


def test_weeks_are_labelled_by_monday_and_clipped_to_the_range(
    partner: Api, boot: dict[str, Any], seeded: Seeded
) -> None:
    body = metrics(
        partner,
        boot,
        scope="layer",
        id=boot["layers"]["meta_ads"],
        since="2026-03-03",
        until="2026-03-09",
        granularity="week",
        metrics="spendCents",
    )
    # 03-02 (Monday) is outside the range, so only 03-03's 500 counts in the first week.
    assert body["series"] == [
        {"date": "2026-03-02", "spendCents": 500},
        {"date": "2026-03-09", "spendCents": 2000},
    ]


def test_metrics_may_be_named_with_brackets(
    partner: Api, boot: dict[str, Any], seeded: Seeded
) -> None:
    r = partner.get(
        project_path(boot, "ads-metrics"),
        params=[
            ("scope", "ad"),
            ("id", seeded.ad_1),
            ("since", "2026-03-02"),
            ("until", "2026-03-02"),
            ("metrics[]", "clicks"),
            ("metrics[]", "ctr"),
        ],
    )
    assert r.status_code == 200, r.text
    assert r.json()["series"] == [{"date": "2026-03-02", "clicks": 40, "ctr": 0.02}]


def test_adset_and_layer_scopes(partner: Api, boot: dict[str, Any], seeded: Seeded) -> None:
    window = {"since": "2026-03-01", "until": "2026-03-31", "metrics": "spendCents"}
    adset = metrics(partner, boot, scope="adset", id=seeded.adset_2, **window)
    assert adset["totals"] == {"spendCents": 2000}
    layer = metrics(partner, boot, scope="layer", id=boot["layers"]["meta_ads"], **window)
    assert layer["totals"] == {"spendCents": 3500}
    tiktok = metrics(partner, boot, scope="layer", id=boot["layers"]["tiktok_ads"], **window)
    assert tiktok["totals"] == {"spendCents": 9999}
    assert len(layer["series"]) == 31


def test_the_default_window_is_the_last_thirty_complete_days(
    partner: Api, boot: dict[str, Any], seeded: Seeded
) -> None:
    body = metrics(partner, boot, scope="ad", id=seeded.ad_1, metrics="spendCents")
    yesterday = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    assert len(body["series"]) == 30
    assert body["series"][-1]["date"] == yesterday.isoformat()
    assert body["series"][0]["date"] == (yesterday - dt.timedelta(days=29)).isoformat()


def test_metrics_requests_are_validated(partner: Api, boot: dict[str, Any], seeded: Seeded) -> None:
    path = project_path(boot, "ads-metrics")
    base = {"scope": "ad", "id": seeded.ad_1}
    assert field_of(partner.get(path, params={"id": seeded.ad_1})) == "scope"
    assert field_of(partner.get(path, params={"scope": "ad"})) == "id"
    assert field_of(partner.get(path, params={**base, "scope": "account"})) == "scope"
    assert field_of(partner.get(path, params={**base, "metrics": "roas"})) == "metrics"
    assert field_of(partner.get(path, params={**base, "granularity": "month"})) == "granularity"
    assert field_of(partner.get(path, params={**base, "since": "03/02/2026"})) == "since"
    assert (
        field_of(partner.get(path, params={**base, "since": "2026-03-05", "until": "2026-03-01"}))
        == "since"
    )
    # An id of the wrong kind, or another project's, is not found.
    assert partner.get(path, params={"scope": "adset", "id": seeded.ad_1}).status_code == 404
    assert partner.get(path, params={"scope": "ad", "id": "ad_01NOSUCHAD"}).status_code == 404


def test_entities_of_another_org_are_not_found(
    client: Any,
    boot: dict[str, Any],
    seeded: Seeded,
    settings: Settings,
    session_factory: sessionmaker[Session],
) -> None:
    other = Api(client, bootstrap_org(settings, session_factory, name="Other")["partnerKey"])
    assert other.get(project_path(boot, "ads/campaigns")).status_code == 404
    r = other.get(project_path(boot, "ads-metrics"), params={"scope": "ad", "id": seeded.ad_1})
    assert r.status_code == 404


def test_the_ad_account_filter_narrows_each_list_to_that_accounts_entities(
    partner: Api, boot: dict[str, Any], seeded: Seeded
) -> None:
    accounts = partner.get(project_path(boot, "ads/ad-accounts")).json()["items"]
    tiktok = next(a["adAccountId"] for a in accounts if a["platform"] == "tiktok_ads")
    campaigns = project_path(boot, "ads/campaigns")
    only = {"adAccountId": tiktok}
    assert ids(partner.get(campaigns, params=only), "campaignId") == [seeded.tiktok_campaign]
    adsets = project_path(boot, "ads/adsets")
    assert ids(partner.get(adsets, params=only), "adsetId") == [seeded.tiktok_adset]
    meta = next(a["adAccountId"] for a in accounts if a["platform"] == "meta_ads")
    both = ids(partner.get(campaigns, params={"adAccountId": f"{meta},{tiktok}"}), "campaignId")
    assert len(both) == 3
    assert ids(partner.get(campaigns, params={"adAccountId": "aac_nobody"}), "campaignId") == []
