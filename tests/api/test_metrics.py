"""`GET /metrics` exposes Prometheus counters of the requests the server answered."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import Api


def test_metrics_count_requests_by_route_template(client: TestClient, partner: Api) -> None:
    assert partner.get("/v1/whoami").status_code == 200
    assert partner.get("/v1/jobs/job_missing").status_code == 404
    body = client.get("/metrics").text
    assert 'adpilot_http_requests_total{method="GET",route="/v1/whoami",status="200"} 1.0' in body
    # Ids never become labels: the template stands for every job.
    assert 'route="/v1/jobs/{jobId}",status="404"' in body
    assert "job_missing" not in body
    assert "adpilot_http_request_seconds_bucket" in body
