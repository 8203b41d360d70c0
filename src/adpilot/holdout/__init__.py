"""The holdout: budget holders adpilot leaves alone on purpose, to measure what it adds."""
