"""TikTok API for Business adapter."""
