"""`adpilot bench quality`: decision quality of policies on simulated accounts (paired seeds)."""
