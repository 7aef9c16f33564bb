"""Every error a user can meet, in one tree. Raised by the core, translated at the edges: the API
answers `{"error": {"code", "message"[, "field"]}}` with `http_status` (and `headers`), the CLI
prints one line on stderr and exits non-zero. A Ray replica sends the class name back and the API
process rebuilds the same class, so an error keeps its status wherever it was raised.

    S2RError (400 error)
    ├── InvalidImage (422 invalid_image)            bytes that are not a usable image
    ├── UnsupportedFormat (415 unsupported_format)  not an allowed raster format
    ├── TooLarge (413 too_large)                    over a byte or pixel limit
    ├── NoEdges (422 no_edges)                      a blank sketch
    ├── InvalidParameter (422 invalid_parameter)    a bad field, setting or argument
    │   └── IdempotencyConflict (422 idempotency_conflict)
    ├── Unauthorized (401 unauthorized)             no key, or not a valid one
    ├── Forbidden (403 forbidden)                   the key's role may not do this
    ├── NotFound (404 not_found)                    also another principal's job
    ├── Conflict (409 conflict)                     e.g. cancelling a finished job
    ├── Cancelled (409 cancelled)                   a render stopped by its user
    ├── QueueFull (429 queue_full)                  with Retry-After
    │   └── PrincipalQueueFull (principal_queue_full)  one principal's own cap of queued jobs
    ├── RateLimited (429 rate_limited)              one principal's request rate; with Retry-After
    └── Unavailable (503)                           the server cannot do it now; retry or fix setup
        ├── ModelsUnavailable (models_unavailable)
        ├── OutOfMemory (out_of_memory)
        ├── ShuttingDown (shutting_down)            with Retry-After
        ├── WorkerDied (worker_died)                a Ray replica died twice during a job
        ├── ChromaUnavailable (chroma_unavailable)  the shared Chroma server does not answer
        ├── RayUnavailable (ray_unavailable)        the Ray cluster or its Serve app does not answer
        ├── RenderTimeout (render_timeout)          a render ran past S2R_RENDER_TIMEOUT (a hung GPU)
        ├── HubUnavailable (hub_unavailable)        a model download: offline, gated, missing file
        └── StorageReadOnly (read_only)             the data folder is read-only: nothing can be stored
    DiskFull (507 disk_full)                        no room for what was asked (model downloads)
    └── InsufficientStorage (insufficient_storage)  the data folder is below its reserve or full (storage.py)
"""

from __future__ import annotations


class S2RError(Exception):
    """Base class: a problem we can explain to the user in one line."""

    code = "error"
    http_status = 400

    def __init__(self, message: str, *, field: str | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        self.headers: dict[str, str] | None = headers

    def to_dict(self) -> dict:
        body = {"code": self.code, "message": self.message}
        if self.field:
            body["field"] = self.field
        return body


class InvalidImage(S2RError):
    """The bytes are not a usable image (corrupt, truncated, empty)."""

    code = "invalid_image"
    http_status = 422


class UnsupportedFormat(S2RError):
    code = "unsupported_format"
    http_status = 415


class TooLarge(S2RError):
    code = "too_large"
    http_status = 413


class NoEdges(S2RError):
    code = "no_edges"
    http_status = 422


class InvalidParameter(S2RError):
    code = "invalid_parameter"
    http_status = 422


class IdempotencyConflict(InvalidParameter):
    """An Idempotency-Key reused with a different request."""

    code = "idempotency_conflict"


class Unauthorized(S2RError):
    code = "unauthorized"
    http_status = 401


class Forbidden(S2RError):
    """The caller is known, but its role may not do this (a `user` adding a style)."""

    code = "forbidden"
    http_status = 403


class NotFound(S2RError):
    code = "not_found"
    http_status = 404


class Conflict(S2RError):
    code = "conflict"
    http_status = 409


class Cancelled(S2RError):
    code = "cancelled"
    http_status = 409


class QueueFull(S2RError):
    """429; `retry_after` (seconds until a queue slot is likely free) becomes `Retry-After`."""

    code = "queue_full"
    http_status = 429

    def __init__(self, message: str, retry_after: int | None = None, **kwargs):
        if retry_after is not None:
            kwargs.setdefault("headers", {"Retry-After": str(retry_after)})
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class PrincipalQueueFull(QueueFull):
    """One principal has as many jobs waiting as it may (`S2R_QUEUE_MAX_PER_PRINCIPAL`)."""

    code = "principal_queue_full"


class RateLimited(S2RError):
    """One principal sent requests faster than `S2R_RATE_LIMIT`; `Retry-After` says when to go on."""

    code = "rate_limited"
    http_status = 429

    def __init__(self, message: str, retry_after: int, **kwargs):
        kwargs.setdefault("headers", {"Retry-After": str(retry_after)})
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class Unavailable(S2RError):
    """503: the request was fine, the server cannot serve it now."""

    code = "unavailable"
    http_status = 503


class ModelsUnavailable(Unavailable):
    code = "models_unavailable"


class OutOfMemory(Unavailable):
    code = "out_of_memory"


class ShuttingDown(Unavailable):
    code = "shutting_down"

    def __init__(self, message: str, **kwargs):
        kwargs.setdefault("headers", {"Retry-After": "5"})
        super().__init__(message, **kwargs)


class WorkerDied(Unavailable):
    code = "worker_died"


class ChromaUnavailable(Unavailable):
    code = "chroma_unavailable"


class RayUnavailable(Unavailable):
    code = "ray_unavailable"


class DatabaseUnavailable(Unavailable):
    """The database `S2R_DATABASE_URL` names does not answer (down, unreachable, shutting down)."""

    code = "database_unavailable"

    def __init__(self, message: str, **kwargs):
        kwargs.setdefault("headers", {"Retry-After": "5"})
        super().__init__(message, **kwargs)


class RenderTimeout(Unavailable):
    code = "render_timeout"


class HubUnavailable(Unavailable):
    code = "hub_unavailable"


class StorageReadOnly(Unavailable):
    """The data folder (or its database) cannot be written: a read-only mount. Reads go on."""

    code = "read_only"


class DiskFull(S2RError):
    code = "disk_full"
    http_status = 507


class InsufficientStorage(DiskFull):
    """Not enough free space in the data folder to store a request and keep the reserve
    (`S2R_MIN_FREE_MB`), or a write ran out of space; the message names the folder and its free space."""

    code = "insufficient_storage"
