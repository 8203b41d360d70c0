"""Exit 0 when the Redis URL given answers PING (used by `make test` outside CI)."""

import sys

import redis

try:
    redis.Redis.from_url(sys.argv[1], socket_connect_timeout=2).ping()
except Exception:
    sys.exit(1)
