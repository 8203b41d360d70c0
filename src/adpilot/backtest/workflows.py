"""The backtest as a durable workflow: one repeatable step that replays and stores the result."""

from __future__ import annotations

import logging

from dbos import DBOS

from adpilot import jobs
from adpilot.backtest import service

log = logging.getLogger(__name__)


@jobs.repeatable_step()
def backtest_replay_step(backtest_id: str) -> None:
    service.execute(jobs.runtime().session_factory, backtest_id)


@jobs.repeatable_step()
def backtest_fail_step(backtest_id: str, message: str) -> None:
    service.fail(jobs.runtime().session_factory, backtest_id, message)


@DBOS.workflow()
def backtest_workflow(backtest_id: str) -> None:
    try:
        backtest_replay_step(backtest_id)
    except Exception as exc:  # a failed replay must end the job, never leave it running
        log.exception("backtest %s failed", backtest_id)
        backtest_fail_step(backtest_id, f"the backtest failed: {type(exc).__name__}")
