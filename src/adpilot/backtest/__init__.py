"""Backtests: the engine replayed week by week over a layer's stored history."""
