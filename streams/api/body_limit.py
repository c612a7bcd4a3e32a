"""The request body limit (``CDP_API_MAX_BODY_BYTES``), as ASGI middleware.

A body over the limit is refused with 413 without being read: at once when its
Content-Length says so, else as soon as the bytes read pass the limit. The
refusal is raised from ``receive``, where FastAPI reads the body (before
authentication), so it becomes the API's usual problem response.

Not FastAPI's own ``max_body_size``: for a declared length over the limit it
replaces the application's answer with a plain-text one."""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyLimit:
    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length", "")
        over = declared.isdigit() and int(declared) > self.limit
        read = 0

        async def bounded() -> Message:
            nonlocal read
            if over:
                raise HTTPException(413)
            message = await receive()
            if message["type"] == "http.request":
                read += len(message.get("body", b""))
                if read > self.limit:
                    raise HTTPException(413)
            return message

        await self.app(scope, bounded, send)
