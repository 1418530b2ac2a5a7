"""The API's docs page (Swagger UI at ``/api/v1/docs``) with its assets from the installed ``fastapi-offline``
package: no CDN, so the page works offline like every other page.

Not ``swagger-ui-bundle``: its Swagger UI 4 cannot read the OpenAPI 3.1 schema FastAPI writes ("Unable to render
this definition"); fastapi-offline ships Swagger UI 5. Its static folder holds just what a docs page loads
(Swagger UI's bundle and CSS, ReDoc, a favicon), so it is mounted as it is.
"""

from __future__ import annotations

from importlib import metadata, resources

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

__all__ = ["DOCS_ASSETS", "DOCS_URL", "install_api_docs"]

DOCS_URL = "/api/v1/docs"
#: the assets' URL names the package's version: an upgrade gets new URLs, never a stale cached file
DOCS_ASSETS = f"/vendor/fastapi-offline-{metadata.version('fastapi-offline')}"


def install_api_docs(app: FastAPI) -> None:
    """Serve the docs page and its assets (``create_app`` calls this, with FastAPI's own ``docs_url`` off)."""
    app.mount(
        DOCS_ASSETS, StaticFiles(directory=str(resources.files("fastapi_offline") / "static")), name="docs-assets"
    )

    @app.get(DOCS_URL, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/") + DOCS_ASSETS
        return get_swagger_ui_html(
            openapi_url=request.scope.get("root_path", "").rstrip("/") + (app.openapi_url or ""),
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{root}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}/swagger-ui.css",
            swagger_favicon_url=f"{root}/favicon.png",
            # no validator badge: Swagger UI would send the schema to validator.swagger.io
            swagger_ui_parameters={**(app.swagger_ui_parameters or {}), "validatorUrl": None},
        )
