"""Dependencies of the routes, as `Annotated` aliases: settings, runtime parts, the caller.

Authentication itself runs earlier, in `AuthMiddleware` (before any body is read); it uses
`authenticate` below and leaves the caller's principal in the request state. `Principal`
declares the bearer scheme in OpenAPI and hands the principal to the routes that need it.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ..config import Settings
from ..jobs import JobStore, JobWorker
from ..render.service import RenderService
from ..styles import StyleLibrary
from .runtime import ApiRuntime

ANONYMOUS = "anonymous"


def authenticate(authorization: str | None, keys: list[str]) -> str | None:
    """The principal for an `Authorization` header value, or None when it is not a valid key.
    Every key is compared in constant time (no early exit reveals which one came close)."""
    if not keys:
        return ANONYMOUS
    scheme, _, token = (authorization or "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    given = token.encode()
    matched = None
    for key in keys:
        if hmac.compare_digest(given, key.encode()) and matched is None:
            matched = key
    if matched is None:
        return None
    return "key:" + hashlib.sha256(matched.encode()).hexdigest()[:12]


def get_runtime(request: Request) -> ApiRuntime:
    return request.app.state.runtime


RuntimeDep = Annotated[ApiRuntime, Depends(get_runtime)]


def get_settings(runtime: RuntimeDep) -> Settings:
    return runtime.settings


def get_service(runtime: RuntimeDep) -> RenderService:
    return runtime.require_service()


def get_library(service: Annotated[RenderService, Depends(get_service)]) -> StyleLibrary:
    return service.library


def get_store(runtime: RuntimeDep) -> JobStore:
    return runtime.require_store()


def get_worker(runtime: RuntimeDep) -> JobWorker:
    return runtime.require_worker()


_bearer = HTTPBearer(auto_error=False, description="API key from S2R_API_KEYS (when keys are set)")


def get_principal(
    request: Request, _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> str:
    return getattr(request.state, "principal", ANONYMOUS)


SettingsDep = Annotated[Settings, Depends(get_settings)]
ServiceDep = Annotated[RenderService, Depends(get_service)]
LibraryDep = Annotated[StyleLibrary, Depends(get_library)]
StoreDep = Annotated[JobStore, Depends(get_store)]
WorkerDep = Annotated[JobWorker, Depends(get_worker)]
Principal = Annotated[str, Depends(get_principal)]
