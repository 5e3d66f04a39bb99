"""The OpenAPI document: it names exactly the routes the apps register, and is served."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
import trio
from openapi_spec_validator import validate
from quart_trio import QuartTrio

from tests.fakes.fake_gateway import ADMIN_TOKEN, FakeGateway, Served, open_served
from tests.transport.events.served_events import SECRET
from transport.endpoint import create_endpoint_app
from transport.event_log import open_memory_log
from transport.events import TokenVerifier, create_events_app
from transport.openapi import openapi_document

#: Served by transport.surface itself, beside the two apps.
SURFACE_ROUTES = {("/metrics", "get"), ("/openapi.json", "get")}
_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


def registered_routes(app: QuartTrio) -> set[tuple[str, str]]:
    """(path, method) of every rule of ``app``, with ``<converter:name>`` as ``{name}``."""
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        for method in rule.methods or ():
            if method not in {"HEAD", "OPTIONS"}:
                routes.add((path, method.lower()))
    return routes


def documented_routes() -> set[tuple[str, str]]:
    paths = openapi_document()["paths"]
    return {(path, method) for path, item in paths.items() for method in item if method in _METHODS}


@pytest.fixture
async def served(nursery: trio.Nursery) -> AsyncIterator[Served]:
    async with open_served(nursery) as served:
        yield served


async def test_document_names_exactly_the_registered_routes(nursery: trio.Nursery) -> None:
    endpoint_app = create_endpoint_app(FakeGateway(nursery), admin_token=ADMIN_TOKEN)
    async with open_memory_log() as log:
        events_app = create_events_app(log, TokenVerifier(SECRET))
        registered = registered_routes(endpoint_app) | registered_routes(events_app)
    assert ("/leases/{lease_ref}/v1/models/{model_id}", "get") in registered
    assert ("/api/v1/events:batch", "post") in registered
    assert documented_routes() == registered | SURFACE_ROUTES


def test_every_path_parameter_is_declared() -> None:
    for path, item in openapi_document()["paths"].items():
        for method, operation in item.items():
            declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
            assert declared == set(re.findall(r"{([^}]+)}", path)), (path, method)


async def test_openapi_json_is_served_and_valid(served: Served) -> None:
    response = await served.http.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    document = response.json()
    validate(document)  # raises when the document is not valid OpenAPI 3.1
    assert document["openapi"].startswith("3.1")
    assert document == openapi_document()
    schemes = document["components"]["securitySchemes"]
    assert {scheme["scheme"] for scheme in schemes.values()} == {"bearer"}
    lease_ops = document["paths"]["/leases/{lease_ref}/health"]["get"]
    assert lease_ops["security"] == [{"leaseToken": []}]
    assert document["paths"]["/api/v1/events"]["post"]["security"] == [{"busJwt": []}]
    assert "text/plain" in document["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
