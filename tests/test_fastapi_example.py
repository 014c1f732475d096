"""The FastAPI feature-serving example, driven through httpx's ASGI transport."""

from __future__ import annotations

import asyncio
import importlib.util
import math
import sys
from pathlib import Path

import polars as pl
import pytest

import aerodf

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")

APP = Path(__file__).resolve().parents[1] / "examples" / "fastapi_features" / "app.py"


def _load():
    spec = importlib.util.spec_from_file_location("fastapi_features_app", APP)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # pydantic resolves the models' annotations through it
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def feature_set(aerospike_server):
    rows = [{"key": k, "clicks_7d": k * 10, "ctr_7d": k / 8, "age_days": k + 1, "is_active": k % 2 == 0}
            for k in range(100)]
    rows[7].pop("ctr_7d")  # user 7 lacks one feature
    frame = pl.DataFrame(rows[:7] + rows[8:])
    with aerodf.connect(aerospike_server.hosts) as c:
        aerodf.write_frame(frame, "test", "features", client=c)
        aerodf.write_frame(pl.DataFrame([rows[7]]), "test", "features", client=c)  # no ctr_7d bin
    return "features"


async def _serve(app, requests):
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://features") as http:
            return [await http.request(method, path, json=body) for method, path, body in requests]


def test_feature_service_end_to_end(aerospike_server, feature_set, transport):
    app = _load().create_app(aerospike_server.hosts, set_name=feature_set, transport=transport)
    health, ok, bad, empty = asyncio.run(_serve(app, [
        ("GET", "/health", None),
        ("POST", "/features", {"ids": [3, 7, 1000, 4]}),
        ("POST", "/features", {"ids": ["x"]}),
        ("POST", "/features", {"ids": []}),
    ]))
    assert health.status_code == 200
    assert health.json()["transport"] == transport
    assert health.json()["path"] == ("wire" if transport == "wire" else "general")
    assert ok.status_code == 200, ok.text
    body = ok.json()
    assert body["names"] == ["clicks_7d", "ctr_7d", "age_days", "is_active"]
    assert body["found"] == [True, True, False, True]
    r3, r7, missing, r4 = body["rows"]
    assert r3[0] == 30 and math.isclose(r3[1], 3 / 8, rel_tol=1e-6) and r3[2:] == [4, False]
    assert r7 == [70, None, 8, False]  # a missing feature is null, not 0
    assert missing == [None, None, None, None]
    assert r4[3] is True
    assert bad.status_code == 422 and empty.status_code == 422


@pytest.mark.fake_only
def test_feature_service_sheds_load_and_times_out(fake, feature_set, transport):
    mod = _load()
    app = mod.create_app(fake.hosts, set_name=feature_set, transport=transport, max_in_flight=1,
                         queue_timeout=0.05, total_timeout_ms=150)

    async def main():
        async with app.router.lifespan_context(app):
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://f") as http:
                # every answer late: the retries (each attempt gets a third of the 150 ms) time out too
                fake.add_fault("delay", command="batch", ms=400)
                first, second = await asyncio.gather(http.post("/features", json={"ids": [1, 2]}),
                                                     http.post("/features", json={"ids": [3, 4]}))
                return sorted([first.status_code, second.status_code])

    assert asyncio.run(main()) == [503, 504]
