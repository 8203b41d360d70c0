"""Request bodies read in bounded pieces: one larger than its limit is refused with 413 before
it is held in memory (a declared Content-Length) or as soon as it passes the limit (streamed)."""

from __future__ import annotations

from fastapi import Request
from starlette.requests import ClientDisconnect

from adpilot import errors

MIB = 1024 * 1024


def too_large(limit: int) -> errors.ApiError:
    return errors.ApiError(
        413,
        "PAYLOAD_TOO_LARGE",
        f"The request body is larger than this endpoint accepts ({limit} bytes).",
        {"limitBytes": limit},
    )


async def read_bounded(request: Request, limit: int) -> bytes:
    """The whole body, or a 413 once it is known to exceed `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.strip().isdigit() and int(declared) > limit:
        raise too_large(limit)
    chunks: list[bytes] = []
    total = 0
    try:
        async for chunk in request.stream():
            total += len(chunk)
            if total > limit:
                raise too_large(limit)
            chunks.append(chunk)
    except ClientDisconnect:
        # Nobody is left to read the answer; it still goes through the envelope and the logs.
        raise errors.ApiError(400, "BAD_REQUEST", "The request body ended early.") from None
    body = b"".join(chunks)
    # Starlette keeps the body here once read; later readers (none of ours) then find it.
    request._body = body
    return body
