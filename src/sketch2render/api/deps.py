"""Dependencies of the routes, as `Annotated` aliases: settings, runtime parts, the caller, and
the caller's own job.

Authentication itself runs earlier, in `AuthMiddleware` (before any body is read); it leaves the
caller's `Principal` in the request state. `Caller` declares the bearer scheme in OpenAPI and
hands the principal to every route; `AdminOnly` refuses a `user` with 403. `OwnedJob` is how every
`/v1/renders/{job_id}...` route gets its job: another principal's job is a 404, exactly like an
id that does not exist, so ids cannot be probed (`tests/api/test_principals.py` checks that every
such route uses it).

The dependencies are `async def` because they only read what the app already holds: FastAPI runs a
plain `def` dependency in a worker thread, and a request would pay a thread hop for each of them
(see docs/architecture.md, "The cost around the model").
"""

from __future__ import annotations

from typing import Annotated

import anyio
from fastapi import Depends, Header, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ..config import Settings
from ..errors import Forbidden, InvalidParameter, NotFound
from ..jobs import Job, JobStore, JobWorker
from ..jobs.job import is_job_id
from ..principals import ANONYMOUS, Principal
from ..retrieval import HybridSearch
from ..styles import StyleLibrary
from ..styles.scope import StyleScope
from .runtime import ApiRuntime

JOB_ID = Path(description="a render id (32 hex digits, from `POST /v1/renders`)")


async def get_runtime(request: Request) -> ApiRuntime:
    return request.app.state.runtime


RuntimeDep = Annotated[ApiRuntime, Depends(get_runtime)]


async def get_settings(runtime: RuntimeDep) -> Settings:
    return runtime.settings


async def get_library(runtime: RuntimeDep) -> StyleLibrary:
    return runtime.require_library()


async def get_search(runtime: RuntimeDep) -> HybridSearch:
    return runtime.require_search()


async def get_store(runtime: RuntimeDep) -> JobStore:
    return runtime.require_store()


async def get_worker(runtime: RuntimeDep) -> JobWorker:
    return runtime.require_worker()


_bearer = HTTPBearer(
    auto_error=False,
    description="An API key: `sketch2render keys add NAME --role user|admin`, or one of S2R_API_KEYS (admins)",
)


async def get_caller(
    request: Request, _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    return getattr(request.state, "principal", ANONYMOUS)


Caller = Annotated[Principal, Depends(get_caller)]


async def require_admin(caller: Caller) -> Principal:
    if not caller.is_admin:
        raise Forbidden(f"{caller.name!r} has role {caller.role}; this needs an admin key")
    return caller


AdminOnly = Annotated[Principal, Depends(require_admin)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
LibraryDep = Annotated[StyleLibrary, Depends(get_library)]
SearchDep = Annotated[HybridSearch, Depends(get_search)]
StoreDep = Annotated[JobStore, Depends(get_store)]
WorkerDep = Annotated[JobWorker, Depends(get_worker)]
# a submission's retry key: printable ASCII, up to 200 characters (scoped to the caller by the route)
IdempotencyKey = Annotated[
    str | None, Header(alias="Idempotency-Key", min_length=1, max_length=200, pattern=r"^[\x20-\x7e]+$")
]


def check_style_ids(runtime: ApiRuntime, style_ids: list[str], scope: StyleScope | None = None) -> None:
    """A 422 naming `style_ids` for an id the library does not have (when the models are loaded), or
    one outside `scope` (another principal's private style reads as missing; a non-commercial one
    under commercial_only is named with its licence)."""
    library = runtime.library
    if library is not None:
        for style_id in style_ids:
            if style_id not in library:
                raise InvalidParameter(f"style_ids: no style with id {style_id!r}", field="style_ids")
            if scope is not None and (why := scope.refusal(library.get(style_id))) is not None:
                raise InvalidParameter(f"style_ids: {why}", field="style_ids")


def request_scope(
    runtime: ApiRuntime, caller: Principal, *, commercial_only: bool, collection: str | None
) -> StyleScope:
    """The styles a render or search of `caller` may use; a collection they cannot see is a 404 naming
    `collection`, as one that does not exist (when the models are loaded; the worker checks it again)."""
    ids = None
    if collection and runtime.library is not None:
        ids = runtime.library.collection_ids(collection, caller.name)
    return StyleScope(caller.name, commercial_only or runtime.settings.commercial_only, ids, collection or "")


def not_found(job_id: str) -> NotFound:
    return NotFound(f"no render with id {job_id!r}", field="id")


async def owned_job(job_id: Annotated[str, JOB_ID], store: StoreDep, caller: Caller) -> Job:
    """The caller's job (an admin's: any job); another principal's job is the same 404 as none."""
    if not is_job_id(job_id):
        raise not_found(job_id)
    job = await anyio.to_thread.run_sync(store.get, job_id)
    if not job.visible_to(caller.name, caller.is_admin):
        raise not_found(job_id)
    return job


OwnedJob = Annotated[Job, Depends(owned_job)]
