"""OpenAPI post-processing: every operation documents the error responses the API really gives."""

from __future__ import annotations

from typing import Any

ERROR = {"$ref": "#/components/schemas/Error"}
ERROR_RESPONSES = {
    "400": "Invalid input; `detail` or the field names say what is wrong.",
    "401": "Not logged in.",
    "403": "The user's role does not allow this.",
    "404": "No such object (or page).",
}
# What an operation with a request body also answers to a body it cannot parse at all.
BODY_ERROR_RESPONSES = {
    "415": "The body's media type is not one the operation reads (or a multipart part has none).",
}


def add_error_responses(
    result: dict[str, Any], generator: Any, request: Any, public: bool
) -> dict[str, Any]:
    """Add an `Error` schema and the 400/401/403/404 responses to every operation, and 415 to
    those that take a request body."""
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = {
        "type": "object",
        "properties": {"detail": {"type": "string"}},
        "additionalProperties": True,
    }
    for path in result.get("paths", {}).values():
        for method, operation in path.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            responses = operation.setdefault("responses", {})
            errors = dict(ERROR_RESPONSES)
            if "requestBody" in operation:
                errors.update(BODY_ERROR_RESPONSES)
            for status, description in errors.items():
                responses.setdefault(
                    status,
                    {
                        "description": description,
                        "content": {"application/json": {"schema": ERROR}},
                    },
                )
    return result
