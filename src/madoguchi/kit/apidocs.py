"""The API reference at ``/docs``: Swagger UI from ``static/vendor`` (copied from npm by
``make assets``, never a CDN), started by a script file rather than inline code, so the pages'
Content-Security-Policy (``script-src 'self'``) holds here too."""

from __future__ import annotations

from html import escape


def swagger_page(*, title: str, openapi_url: str) -> str:
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)} API</title>
<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/static/vendor/swagger-ui.css">
</head>
<body>
<div id="swagger-ui" data-openapi-url="{escape(openapi_url)}"></div>
<script src="/static/vendor/swagger-ui-bundle.js"></script>
<script src="/static/js/swagger-init.js"></script>
</body>
</html>
"""
