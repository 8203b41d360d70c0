"""Wire-format fake servers of the ad platforms, backed by the simulated market.

Each platform module (`adpilot.fakes.meta`, `.tiktok`, `.apple`) offers:
- `create_app(world: FakeWorld) -> ASGI app` — the platform's HTTP API over `world`;
- `settings_overrides(base_url: str) -> dict[str, str]` — the `Settings` fields that point
  adpilot's client at a server of it running at `base_url`;
- `credentials_for(world: FakeWorld, account_id: str) -> dict[str, Any]` — connect credentials
  (camelCase, as `POST …/ad-accounts` takes them) that the fake accepts for that account;
- `minimum_sync_calls(world: FakeWorld, account_id: str, since, until) -> int` — the fewest
  requests the wire format allows for a full sync of the account (benchmarks compare with it).
"""
