"""Outcomes: every proposal followed after the fact, calibration, and rollback of what backfired."""
