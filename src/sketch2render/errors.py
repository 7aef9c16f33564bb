"""Domain errors. Raised by the core, translated at the edges (HTTP status in the API,
one line on stderr and a non-zero exit in the CLI). Each carries a stable `code`."""

from __future__ import annotations


class S2RError(Exception):
    """Base class: a problem we can explain to the user in one line."""

    code = "error"
    http_status = 400

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field

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


class NotFound(S2RError):
    code = "not_found"
    http_status = 404


class Conflict(S2RError):
    code = "conflict"
    http_status = 409


class QueueFull(S2RError):
    code = "queue_full"
    http_status = 429


class ModelsUnavailable(S2RError):
    code = "models_unavailable"
    http_status = 503


class OutOfMemory(S2RError):
    code = "out_of_memory"
    http_status = 503


class Cancelled(S2RError):
    code = "cancelled"
    http_status = 409
