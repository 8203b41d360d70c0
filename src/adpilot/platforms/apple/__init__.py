"""Apple Ads Platform API adapter."""
