"""The sandbox platform: a simulated ad account behind the AdPlatform protocol."""

from adpilot.platforms.sandbox.adapter import SandboxPlatform
from adpilot.platforms.sandbox.faults import FaultKind, add_fault, clear_faults, inject_fault
from adpilot.platforms.sandbox.store import InMemorySandboxStore, SandboxStore
from adpilot.platforms.sandbox.writelog import applied_count, write_count

__all__ = [
    "FaultKind",
    "InMemorySandboxStore",
    "SandboxPlatform",
    "SandboxStore",
    "add_fault",
    "applied_count",
    "clear_faults",
    "inject_fault",
    "write_count",
]
