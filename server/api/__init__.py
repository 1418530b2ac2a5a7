"""Routes per resource, mounted under /api/v1."""

from fastapi import APIRouter

from server.api import catalog, contributions, jobs, zones

api_router = APIRouter()
for module in (catalog, jobs, zones, contributions):
    api_router.include_router(module.router)
