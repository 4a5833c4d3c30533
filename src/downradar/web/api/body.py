"""Reading a request body with a hard size cap, whether or not Content-Length is sent."""

from __future__ import annotations

from fastapi import HTTPException, Request
from starlette.requests import ClientDisconnect
from starlette.types import Message, Receive, Scope


class BodyTooLarge(Exception):
    pass


async def read_body(scope: Scope, receive: Receive, limit: int) -> bytes:
    """The whole body straight from ASGI; BodyTooLarge over `limit` bytes, ClientDisconnect if the client
    goes before it is all in (a part of a body is never taken for the whole)."""
    for name, value in scope["headers"]:
        if name == b"content-length" and value.isdigit() and int(value) > limit:
            raise BodyTooLarge(f"body too large: {int(value)} bytes, limit {limit}")
    chunks: list[bytes] = []
    size = 0
    while True:
        message: Message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(f"body too large: over the limit of {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def read_limited(request: Request, limit: int) -> bytes:
    """read_body for a FastAPI route: a 413 HTTPException over the limit."""
    try:
        return await read_body(request.scope, request.receive, limit)
    except BodyTooLarge as exc:
        raise HTTPException(413, str(exc)) from None
