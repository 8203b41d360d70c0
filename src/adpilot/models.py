"""Imports every table so `Base.metadata` is complete (Alembic and tests rely on it)."""

from adpilot.audit.models import AuditEvent
from adpilot.auth.models import ApiKey, Organization
from adpilot.backtest.models import Backtest
from adpilot.dashboard.models import DashboardSession
from adpilot.db import Base
from adpilot.entities.models import Ad, AdDailyMetric, AdsContent, AdSet, AdSetBreakdown, Campaign
from adpilot.gate.models import Verdict
from adpilot.holdout.models import HoldoutAssignment
from adpilot.kit.idempotency_models import IdempotencyRecord
from adpilot.layers.models import AdAccount, CampaignAuthority, Layer, Project
from adpilot.outcomes.models import ActionOutcome, Prediction
from adpilot.pending.models import PendingAction
from adpilot.platforms.sandbox.models import SandboxMarket
from adpilot.runs.models import Job, OptimizerRun
from adpilot.syncs.models import EntitySync
from adpilot.webhooks.models import WebhookDelivery, WebhookEndpoint, WebhookEvent
from adpilot.workers.models import WorkerLease

__all__ = [
    "ActionOutcome",
    "Ad",
    "AdAccount",
    "AdDailyMetric",
    "AdSet",
    "AdSetBreakdown",
    "AdsContent",
    "ApiKey",
    "AuditEvent",
    "Backtest",
    "Base",
    "Campaign",
    "CampaignAuthority",
    "DashboardSession",
    "EntitySync",
    "HoldoutAssignment",
    "IdempotencyRecord",
    "Job",
    "Layer",
    "OptimizerRun",
    "Organization",
    "PendingAction",
    "Prediction",
    "Project",
    "SandboxMarket",
    "Verdict",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookEvent",
    "WorkerLease",
]
