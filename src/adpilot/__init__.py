"""adpilot: a self-hostable ads optimizer with a partner HTTP API."""

__version__ = "0.1.0"
