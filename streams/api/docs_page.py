"""``/docs``: Swagger UI from assets shipped in the package (fastapi-offline's copy,
pinned in uv.lock), so the page works with no network beyond the API, and loads
no third-party script into a page that holds an API key. The page has no inline
script or style, so its Content-Security-Policy can allow this origin only."""

from __future__ import annotations

from functools import cache
from importlib import resources

from fastapi import APIRouter, Response
from fastapi.responses import HTMLResponse

from .problems import ProblemError

# data: images are the icons inside swagger-ui.css; everything else comes from this origin
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_TYPES = {".js": "text/javascript", ".css": "text/css", ".png": "image/png"}
_SWAGGER = resources.files("fastapi_offline") / "static"
_OURS = resources.files(__package__) / "static"
_ASSETS = {
    "swagger-ui-bundle.js": _SWAGGER / "swagger-ui-bundle.js",
    "swagger-ui.css": _SWAGGER / "swagger-ui.css",
    "favicon.png": _SWAGGER / "favicon.png",
    "docs.js": _OURS / "docs.js",
}
# Relative URLs: the page works under any path prefix (an ingress's) with nothing to configure.
PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>cdp-triggers API</title>
<link rel="icon" type="image/png" href="docs/assets/favicon.png">
<link rel="stylesheet" href="docs/assets/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="docs/assets/swagger-ui-bundle.js"></script>
<script src="docs/assets/docs.js"></script>
</body>
</html>
"""
HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}

router = APIRouter(include_in_schema=False)


@router.get("/docs")
async def docs() -> HTMLResponse:
    return HTMLResponse(PAGE, headers={**HEADERS, "Cache-Control": "no-cache"})


@cache  # read once, on first use: nothing at start-up, no disk read per request
def _content(name: str) -> bytes:
    return _ASSETS[name].read_bytes()


@router.get("/docs/assets/{name}")
async def asset(name: str) -> Response:
    if name not in _ASSETS:
        raise ProblemError(404, f"no docs asset {name!r}")
    media_type = _TYPES[name[name.rindex(".") :]]
    return Response(_content(name), media_type=media_type, headers={**HEADERS, "Cache-Control": "max-age=3600"})
