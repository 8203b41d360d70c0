"""The dashboard's outcomes page: judged changes, cumulative effect and calibration."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from markupsafe import escape
from sqlalchemy.orm import Session, sessionmaker

from adpilot.kit.clock import utcnow
from tests.api.test_dashboard_support import sign_in
from tests.conftest import Api
from tests.helpers_outcomes import judged
from tests.helpers_pending import add_action, set_row


def test_the_outcomes_page_shows_each_judged_change_and_the_calibration_table(
    client: TestClient,
    boot: dict[str, Any],
    partner: Api,
    session_factory: sessionmaker[Session],
) -> None:
    layer_id = boot["layers"]["meta_ads"]
    sent = add_action(session_factory, layer_id, origin="auto")
    set_row(session_factory, sent, status="dispatched", dispatched_at=utcnow())
    worked = judged(
        session_factory,
        sent,
        verdict="worked",
        p_true=0.99,
        detail={
            "reason": "Worked: 61.0 conversions against 48.0 expected without the change.",
            "predictedConversions": 58.0,
            "observedConversions": 61.0,
            "counterfactualConversions": 48.0,
            "effectValue": 9.5,
            "effectLow": 2.0,
            "effectHigh": 17.0,
        },
    )
    unsent = add_action(session_factory, layer_id)
    set_row(session_factory, unsent, status="rejected", rejection_reason="not now")
    judged(session_factory, unsent, verdict="confirmed", p_true=0.9)

    sign_in(client, boot["customerKey"])
    base = f"/app/projects/{boot['projectId']}/layers/{layer_id}"
    assert 'href="' + base + '/outcomes"' in client.get(base).text
    page = client.get(f"{base}/outcomes")
    assert page.status_code == 200
    assert f'data-evaluation="{worked}"' in page.text
    assert "b-worked" in page.text and str(escape("Worked: 61.0 conversions")) in page.text
    assert "58.0" in page.text and "61.0" in page.text and "48.0" in page.text
    assert 'data-effect="9.5"' in page.text
    assert 'id="calibration"' in page.text and "Brier score" in page.text
    assert "Came true" in page.text
    predictions = client.get(f"{base}/outcomes", params={"show": "predictions"})
    assert (
        "b-confirmed" in predictions.text and f'data-evaluation="{worked}"' not in predictions.text
    )
    # The API shows the same outcome on the row.
    row = partner.get(f"/v1/projects/{boot['projectId']}/ads/meta/pending/{unsent}").json()
    assert row["outcome"]["verdict"] == "confirmed" and row["outcome"]["sent"] is False
