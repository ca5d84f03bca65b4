"""``/docs``: Swagger UI from a CDN, pinned to one version and checked by the browser (SRI).

FastAPI's own page loads ``swagger-ui-dist@5``, whatever that resolves to on the day, with no
integrity check: a changed or compromised file would run with the page's origin. Pinning with
SRI keeps the service free of 2 MB of assets (they would also ship in the Lambda layer) while
the browser refuses any byte that differs from what was reviewed. The hashes are of the files
in the npm package ``swagger-ui-dist`` of that version, which the CDN serves unchanged
(INSTRUCTIONS.md shows how to recompute them when the version changes).
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse

SWAGGER_UI_VERSION = "5.35.0"
CDN = f"https://cdn.jsdelivr.net/npm/swagger-ui-dist@{SWAGGER_UI_VERSION}"
JS_SRI = "sha384-gjRm0bEPMeTmMh5jT2cHccIwCUZSTd8YC+j0d0sXw0MdGEfScduGpSyF3ZSSLkX9"
CSS_SRI = "sha384-WlYgdmXYOOBWL5apwjDEZwN+U3HmXSSu5R6V5aGxEcf7z+KuRNwBhoxKVN1i3D5I"

_PAGE = """<!DOCTYPE html>
<html>
<head>
<meta charset="utf-8">
<title>{title}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{cdn}/swagger-ui.css" integrity="{css_sri}" crossorigin="anonymous">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{cdn}/swagger-ui-bundle.js" integrity="{js_sri}" crossorigin="anonymous"></script>
<script>
SwaggerUIBundle({{url: '{openapi_url}', dom_id: '#swagger-ui', deepLinking: true}});
</script>
</body>
</html>
"""


def install_docs(app: FastAPI) -> None:
    """Serve ``/docs`` for ``app`` (built with ``docs_url=None`` and ``redoc_url=None``)."""

    @app.get("/docs", include_in_schema=False)
    async def docs(request: Request) -> HTMLResponse:
        # Behind an API Gateway stage the document is under the stage prefix (root_path).
        root_path = str(request.scope.get("root_path", "")).rstrip("/")
        return HTMLResponse(
            _PAGE.format(
                title=f"{app.title} - Swagger UI",
                cdn=CDN,
                css_sri=CSS_SRI,
                js_sri=JS_SRI,
                openapi_url=f"{root_path}{app.openapi_url}",
            )
        )
