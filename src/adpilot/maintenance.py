"""Periodic upkeep: expire pending actions, fire layer schedules, re-enqueue lost work."""
