"""Meta Marketing API (Graph) adapter."""
