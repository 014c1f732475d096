"""Feature serving: a FastAPI app that fetches feature rows through aerodf.aio.

Run it against a cluster (or ``python -m aerodf server``)::

    pip install "aerodf[aerospike-py]" fastapi uvicorn
    AERODF_HOSTS=127.0.0.1:3000 uvicorn app:app --app-dir examples/fastapi_features

    curl -s localhost:8000/features -d '{"ids": [1, 2, 3]}' -H 'content-type: application/json'

One :class:`aerodf.aio.AsyncReader` is opened at startup and shared by every
request: it keeps the connection and the compiled schema, bounds what is in
flight on the cluster (``max_in_flight``) and sheds load instead of queueing
without end (``queue_timeout`` -> HTTP 503). Missing users and missing
features come back as ``null``, never as made-up zeros.
"""

from __future__ import annotations

import os
from contextlib import asynccontextmanager
from typing import Any

import numpy as np
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel, Field

import aerodf
from aerodf import aio

FEATURES = {"clicks_7d": "int32", "ctr_7d": "float32", "age_days": "int16", "is_active": "bool"}


class FeatureRequest(BaseModel):
    ids: list[int] = Field(min_length=1, max_length=1000)


class FeatureResponse(BaseModel):
    names: list[str]
    rows: list[list[Any]]  # one row per requested id, in request order; null = unknown
    found: list[bool]


def create_app(hosts: Any = None, *, namespace: str = "test", set_name: str = "features",
               transport: str = "auto", max_in_flight: int = 64, queue_timeout: float = 0.25,
               total_timeout_ms: int = 100) -> FastAPI:
    """The app; ``hosts`` defaults to ``$AERODF_HOSTS``."""

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.reader = await aio.AsyncReader.open(
            FEATURES, namespace=namespace, set=set_name, hosts=hosts, transport=transport, output="numpy",
            max_in_flight=max_in_flight, queue_timeout=queue_timeout, total_timeout=total_timeout_ms,
            with_meta=True)
        yield
        await app.state.reader.close()

    app = FastAPI(title="aerodf feature service", lifespan=lifespan)

    @app.post("/features", response_model=FeatureResponse)
    async def features(req: FeatureRequest) -> FeatureResponse:
        try:
            arr = await app.state.reader.read(req.ids)
        except aerodf.BackpressureError as exc:
            raise HTTPException(503, f"overloaded: {exc}") from exc
        except aerodf.TimeoutError as exc:
            raise HTTPException(504, f"cluster timeout: {exc}") from exc
        names = list(FEATURES)
        found = (~np.ma.getmaskarray(arr["generation"])).tolist()  # no generation: no record
        rows = [list(r) for r in arr[names].tolist()]
        return FeatureResponse(names=names, rows=rows, found=found)

    @app.get("/health")
    async def health() -> dict[str, Any]:
        reader = app.state.reader
        return {"transport": reader.transport_name, "path": reader.path, "in_flight": reader.limiter.stats().in_flight}

    return app


app = create_app(os.environ.get("AERODF_HOSTS")) if os.environ.get("AERODF_HOSTS") else None
