"""OpenAPI 3.1 documents generated from the request and response models (:mod:`channels.schema`)
and a table of :class:`Operation`: what a route takes, and every answer it can give.

The documents are built once per deployment, at mount time, because a few facts are the
deployment's own (its divisions, the attachment limit, whether app requests must be signed). The
models' schemas, which are the same for every deployment, are generated once per process (pydantic
takes ~0.3 s for the staff API's); each document gets its own copy to add its facts to.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaMode, models_json_schema

from channels.schema import Error, ResponseModel

REF = "#/components/schemas/{model}"
ERROR_REF = {"$ref": "#/components/schemas/Error"}


class _Generator(GenerateJsonSchema):
    """Pydantic's generator without a title per field (the field's name says it)."""

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False


class OpenApiDocument(ResponseModel):
    """An OpenAPI document (this very kind of document)."""

    model_config = ConfigDict(extra="allow")

    openapi: str
    info: dict[str, Any]
    paths: dict[str, Any]


@dataclass(frozen=True)
class Answer:
    """One documented answer: a model (or one of several), or, without one, the error shape."""

    description: str
    model: type[BaseModel] | tuple[type[BaseModel], ...] | None = None
    headers: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    # Media types → schema, for an answer that is not JSON (a file download).
    content: Mapping[str, Mapping[str, Any]] | None = None


@dataclass(frozen=True)
class Param:
    """A path or header parameter (bodies and query strings are models)."""

    name: str
    where: Literal["path", "header"]
    description: str
    schema: Mapping[str, Any]
    required: bool = True
    example: str | None = None


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    operation_id: str
    summary: str
    answers: Mapping[int, Answer]
    description: str = ""
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    params: tuple[Param, ...] = ()
    public: bool = False  # no bearer token: ``security: []`` where the document has a default


RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before trying again",
        "required": True,
        "schema": {"type": "integer", "minimum": 1},
    }
}
BODY_ERRORS = {
    400: Answer("Malformed JSON or an unreadable body (`malformed_json`)"),
    413: Answer("Body larger than the configured limit (`payload_too_large`)"),
    415: Answer("Body is not application/json (`unsupported_media_type`)"),
}
UNAVAILABLE = {503: Answer("The database is unavailable for a moment; see Retry-After", headers=RETRY_AFTER)}
THROTTLED = {429: Answer("Too many attempts; see Retry-After (`rate_limited`)", headers=RETRY_AFTER)}


def document(
    info: Mapping[str, Any],
    operations: Sequence[Operation],
    *,
    security_schemes: Mapping[str, Any] | None = None,
    security: list[dict[str, list[str]]] | None = None,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``operations``. ``overrides`` adds the deployment's own facts to
    a model's property, keyed ``"Model.property"`` (e.g. the divisions as an ``enum``)."""
    wanted: list[tuple[type[BaseModel], JsonSchemaMode]] = [(Error, "serialization")]
    for op in operations:
        if op.body is not None:
            wanted.append((op.body, "validation"))
        for answer in op.answers.values():
            for model in _models(answer):
                wanted.append((model, "serialization"))
    refs, defs = copy.deepcopy(_schemas(tuple(dict.fromkeys(wanted))))
    schemas: dict[str, Any] = dict(defs.get("$defs", {}))
    for key, extra in (overrides or {}).items():
        name, prop = key.split(".")
        _merge(schemas[name]["properties"][prop], extra)
    paths: dict[str, Any] = {}
    for op in operations:
        paths.setdefault(op.path, {})[op.method.lower()] = _operation(op, refs, security is not None)
    components: dict[str, Any] = {"schemas": schemas}
    if security_schemes:
        components["securitySchemes"] = dict(security_schemes)
    doc: dict[str, Any] = {"openapi": "3.1.0", "info": dict(info)}
    if security is not None:
        doc["security"] = security
    return doc | {"paths": paths, "components": components}


@functools.cache
def _schemas(wanted: tuple[tuple[type[BaseModel], JsonSchemaMode], ...]) -> tuple[Any, dict[str, Any]]:
    """The JSON schemas of ``wanted`` (models and modes) and their references: pydantic's work,
    the same for every deployment. Callers copy before they change anything."""
    return models_json_schema(list(wanted), ref_template=REF, schema_generator=_Generator)


def _models(answer: Answer) -> tuple[type[BaseModel], ...]:
    if answer.model is None:
        return ()
    return answer.model if isinstance(answer.model, tuple) else (answer.model,)


def _operation(op: Operation, refs: Mapping[Any, Any], has_default_security: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"operationId": op.operation_id, "summary": op.summary}
    if op.description:
        out["description"] = op.description
    if op.public and has_default_security:
        out["security"] = []
    parameters = [_param(p) for p in op.params] + (_query(op.query) if op.query else [])
    if parameters:
        out["parameters"] = parameters
    if op.body is not None:
        schema = refs[(op.body, "validation")]
        out["requestBody"] = {"required": True, "content": {"application/json": {"schema": schema}}}
    out["responses"] = {str(status): _answer(a, refs) for status, a in sorted(op.answers.items())}
    return out


def _answer(answer: Answer, refs: Mapping[Any, Any]) -> dict[str, Any]:
    models = _models(answer)
    if not models:
        schema: dict[str, Any] = ERROR_REF
    elif len(models) == 1:
        schema = refs[(models[0], "serialization")]
    else:
        schema = {"anyOf": [refs[(m, "serialization")] for m in models]}
    out: dict[str, Any] = {
        "description": answer.description,
        "content": {k: {"schema": dict(v)} for k, v in answer.content.items()}
        if answer.content is not None
        else {"application/json": {"schema": schema}},
    }
    if answer.headers:
        out["headers"] = {name: dict(h) for name, h in answer.headers.items()}
    return out


def _param(p: Param) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": p.name,
        "in": p.where,
        "required": p.required,
        "description": p.description,
        "schema": dict(p.schema),
    }
    if p.example is not None:
        out["example"] = p.example
    return out


def _query(model: type[BaseModel]) -> list[dict[str, Any]]:
    """A query model's fields as parameters: the value's schema without the null a missing
    parameter stands for (a URL has no null)."""
    return copy.deepcopy(_query_parameters(model))


@functools.cache
def _query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    schema = model.model_json_schema(mode="validation", schema_generator=_Generator)
    required = set(schema.get("required", ()))
    out = []
    for name, prop in schema["properties"].items():
        prop = _without_null(prop)
        description = prop.pop("description", "")
        out.append(
            {
                "name": name,
                "in": "query",
                "required": name in required,
                "description": description,
                "schema": prop,
            }
        )
    return out


def _without_null(prop: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(prop)
    branches = [b for b in out.pop("anyOf", ()) if b != {"type": "null"}]
    if len(branches) == 1:
        out = branches[0] | out
    elif branches:
        out["anyOf"] = branches
    if out.get("default", ...) is None:
        del out["default"]
    return out


def _merge(prop: dict[str, Any], extra: Mapping[str, Any]) -> None:
    """Add ``extra`` to the value's schema (the non-null branch of an optional property)."""
    for branch in prop.get("anyOf", [prop]):
        if branch != {"type": "null"}:
            branch.update(extra)
