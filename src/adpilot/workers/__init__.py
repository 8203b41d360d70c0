"""Worker processes of distributed mode: their leases, and taking over the work of lost ones."""
