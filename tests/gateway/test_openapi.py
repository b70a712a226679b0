"""The OpenAPI document describes every operation: what it does, who may call it, how it fails."""

from __future__ import annotations

from typing import Any

import pytest

from picturetime_gateway.app import create_app
from picturetime_gateway.settings import GatewaySettings

DOCUMENT = create_app(GatewaySettings(env="test")).openapi()
OPERATIONS = [
    (f"{method.upper()} {path}", operation)
    for path, item in DOCUMENT["paths"].items()
    for method, operation in item.items()
]


@pytest.mark.parametrize(("name", "operation"), OPERATIONS, ids=[name for name, _ in OPERATIONS])
def test_operation_is_documented(name: str, operation: dict[str, Any]) -> None:
    assert operation.get("summary") and operation.get("description"), f"{name}: add a docstring"
    responses = operation["responses"]
    assert any(status.startswith("2") for status in responses)
    if operation["x-access"] != "public":
        assert "401" in responses and operation["security"], name
        assert "**Access:**" in operation["description"]
        if operation["x-access"] != "any-key":
            assert "403" in responses, name
        for status, response in responses.items():
            if status.startswith(("4", "5")):
                assert response["description"]
                assert response["content"]["application/json"]["schema"] == {
                    "$ref": "#/components/schemas/Error"
                }


def test_errors_are_described_by_the_shape_the_gateway_sends() -> None:
    schemas = DOCUMENT["components"]["schemas"]
    assert schemas["Error"]["required"] == ["error", "detail"]
    assert "HTTPValidationError" not in schemas
    assert set(DOCUMENT["components"]["securitySchemes"]) == {"apiKey", "session"}


def test_photos_document_no_raw_gps() -> None:
    photo = DOCUMENT["components"]["schemas"]["PhotoOut"]["properties"]
    assert "gps" not in photo and "exif" not in photo and "location" in photo
