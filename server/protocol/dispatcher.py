"""From HttpRequest to HttpResponse: route, parse, validate, replay or run the handler, serialise.

Handlers receive the request context and the validated input dict and return the output dict; they
raise ServiceError for anything the client should see. Any other exception becomes an
InternalServerException carrying the request id, with the traceback in the log.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from botocore.model import OperationModel, ServiceModel

from server.protocol.context import RequestContext, request_context
from server.protocol.http import HttpRequest, HttpResponse
from server.protocol.idempotency import (
    TOKEN_LIFETIME_SECONDS,
    KeyLocks,
    TokenKey,
    TokenLocks,
    TokenStore,
    fingerprint,
)
from server.protocol.parsing import parse_input
from server.protocol.routing import Router
from server.protocol.serializing import serialize_error, serialize_output
from server.protocol.validation import validate_input
from server.spec.errors import ServiceError, validation_error

log = logging.getLogger(__name__)

Handler = Callable[[RequestContext, dict[str, Any]], dict[str, Any]]
TokenReuseError = Callable[[OperationModel, str], ServiceError]
# (context, operation name, input, remembered response body) -> may the remembered answer be replayed?
ReplayHolds = Callable[[RequestContext, str, dict[str, Any], bytes], bool]


def _default_token_reuse_error(operation: OperationModel, token: str) -> ServiceError:
    return ServiceError(
        "ConflictException",
        f"Client token {token} was already used for a different {operation.name} request",
    )


class Dispatcher:
    def __init__(
        self,
        service: ServiceModel,
        handlers: Mapping[str, Handler],
        *,
        default_account: str,
        default_region: str,
        tokens: TokenStore | None = None,
        token_reuse_error: TokenReuseError = _default_token_reuse_error,
        replay_holds: ReplayHolds | None = None,
        authenticate: Callable[[HttpRequest], None] | None = None,
        token_locks: TokenLocks | None = None,
    ) -> None:
        self.service = service
        self.router = Router(service)
        self.handlers = dict(handlers)
        self.default_account = default_account
        self.default_region = default_region
        self.tokens = tokens
        self.token_reuse_error = token_reuse_error
        self.replay_holds = replay_holds
        self.authenticate = authenticate  # raises ServiceError; None: signatures are not checked
        self._locks: TokenLocks = token_locks or KeyLocks()
        self._token_members = {
            name: _token_member(service.operation_model(name)) for name in service.operation_names
        }

    def context(self, request: HttpRequest) -> RequestContext:
        return request_context(
            request.headers,
            request.query_string,
            default_account=self.default_account,
            default_region=self.default_region,
        )

    def handle(self, request: HttpRequest, context: RequestContext | None = None) -> HttpResponse:
        context = context or self.context(request)
        operation: OperationModel | None = None
        try:
            if self.authenticate is not None:  # before anything else, as AWS does: no hints to strangers
                self.authenticate(request)
            query_keys = {part.split("=", 1)[0] for part in request.query_string.split("&") if part}
            operation, labels = self.router.match(request.method, request.raw_path, query_keys)
            response = self._handle(request, context, operation, labels)
        except ServiceError as error:
            response = serialize_error(self.service, error)
        except Exception:
            log.exception("request %s (%s %s) failed", context.request_id, request.method, request.raw_path)
            internal = ServiceError(
                "InternalServerException",
                f"An internal error occurred; request id {context.request_id}",
                RequestId=context.request_id,
            )
            response = serialize_error(self.service, internal)
        response.headers["x-amzn-RequestId"] = context.request_id
        response.operation = operation.name if operation is not None else ""
        return response

    def invoke(self, context: RequestContext, operation_name: str, params: dict[str, Any]) -> dict[str, Any]:
        """Run one operation in-process (the web console): the input is validated against the service
        model as a wire request's is and goes to the same handler; raises ServiceError. Client tokens are
        not remembered: in-process callers send none."""
        try:
            operation = self.service.operation_model(operation_name)
        except Exception:
            raise ServiceError(
                "UnknownOperationException", f"There is no operation {operation_name}"
            ) from None
        shape = operation.input_shape
        members = shape.members if shape is not None else {}
        unknown = sorted(set(params) - set(members))
        if unknown:
            raise validation_error(f"{operation_name} has no member {', '.join(unknown)}")
        params = {name: value for name, value in params.items() if value is not None}
        validate_input(shape, params)
        return self._handler(operation_name)(context, params)

    def _handler(self, operation_name: str) -> Handler:
        handler = self.handlers.get(operation_name)
        if handler is None:
            raise ServiceError(
                "NotImplementedException",
                f"Operation {operation_name} is not implemented yet in this emulator",
                status=501,
            )
        return handler

    def _handle(
        self, request: HttpRequest, context: RequestContext, operation: OperationModel, labels: dict[str, str]
    ) -> HttpResponse:
        params = parse_input(operation, request, labels)
        validate_input(operation.input_shape, params)
        handler = self._handler(operation.name)
        token_member = self._token_members[operation.name]
        token = params.get(token_member) if token_member else None
        if token is None or token_member is None or self.tokens is None:
            return serialize_output(operation, handler(context, params))
        key = TokenKey(context.account, context.region, operation.name, token)
        digest = fingerprint(params, token_member)
        with self._locks.for_key(key):
            seen = self.tokens.recall(key, newer_than=time.time() - TOKEN_LIFETIME_SECONDS)
            if seen is not None:
                if seen.fingerprint != digest:
                    raise self.token_reuse_error(operation, token)
                # A later call may have undone the first one's effect (a stop after a start): then the
                # repeat is a new request, and its answer replaces the remembered one.
                if self.replay_holds is None or self.replay_holds(context, operation.name, params, seen.body):
                    return HttpResponse(seen.status, dict(seen.headers), seen.body)
            response = serialize_output(operation, handler(context, params))
            if 200 <= response.status < 300:
                self.tokens.remember(key, digest, response.status, response.headers, response.body)
            return response


def _token_member(operation: OperationModel) -> str | None:
    shape = operation.input_shape
    if shape is None:
        return None
    for name, member in shape.members.items():
        if member.metadata.get("idempotencyToken"):
            return name
    return None
