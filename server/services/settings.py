"""Service settings from flags and environment variables (``ZONE_EXPLORER_*``), shared by `serve` and the app.

Every field reads ``ZONE_EXPLORER_<FIELD>`` (``ZONE_EXPLORER_DATABASE_URL``, ``ZONE_EXPLORER_WORKERS``, ...);
`zone-explorer serve` turns its flags into these variables so that the app, built by uvicorn from an import
string, sees the same values in every process.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from zone_explorer.store.db import DEFAULT_DATABASE_URL

__all__ = ["ServiceSettings", "get_settings"]


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ZONE_EXPLORER_", extra="ignore")

    database_url: str = Field(DEFAULT_DATABASE_URL, description="sqlite:///file.db or postgresql://user@host/db")
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    #: worker processes started inside `serve` (0: the API alone, workers run elsewhere)
    workers: int = Field(1, ge=0, le=256)
    worker_threads: int = Field(1, ge=1, le=64, description="torch threads per embedded worker")
    #: where embedded workers run their trials, in turn: cpu, cuda:N, a comma-separated list, or auto (checked when
    #: the app starts: zone_explorer.engine.devices.parse_devices)
    devices: str = Field("cpu", max_length=2000, description="devices of the embedded workers, e.g. cuda:0,cuda:1")
    #: how far embedded workers lower their CPU priority, so that requests are answered while they train
    worker_nice: int = Field(10, ge=0, le=19, description="niceness added to embedded worker processes")
    #: bring the schema up to date when the app starts (off when a deploy step migrates)
    migrate: bool = True
    #: the service's own log lines (zone_explorer.*): text for people, json for log collectors
    log_format: Literal["text", "json"] = "text"

    # ---- limits --------------------------------------------------------------------------------------------
    max_body_bytes: int = Field(2 * 1024 * 1024, ge=1024, description="larger request bodies get 413")
    max_batch: int = Field(1000, ge=1, description="contributions per batch or CSV upload")
    max_page_size: int = Field(500, ge=1, le=10_000, description="larger `limit` values are capped to this")
    #: writes per token per window; 0 turns rate limiting off
    rate_limit: int = Field(600, ge=0)
    rate_window_s: float = Field(60.0, gt=0)
    zone_cache_size: int = Field(32, ge=0, description="zone results kept in memory (0: no cache)")
    #: while trials keep finishing, a zone answer may lag the newest trials by this long (contributions never lag)
    zone_refresh_s: float = Field(
        2.0, ge=0, le=60, description="seconds between zone refreshes during a job (0: every change)"
    )
    #: polled reads (a job's status, a zone's data version) are answered from memory for this long; a change made
    #: through this process (a cancel, a contribution) is seen at once
    poll_cache_s: float = Field(0.5, ge=0, le=5, description="seconds a polled answer is reused (0: read every time)")


def get_settings(**overrides) -> ServiceSettings:
    """Settings from the environment, with explicit values (flags, tests) winning."""
    return ServiceSettings(**{k: v for k, v in overrides.items() if v is not None})
