"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from ..deps import Principal, RuntimeDep
from ..handlers import ERROR_RESPONSES
from ..metrics import CONTENT_TYPE
from ..views import Live, Ready

router = APIRouter(tags=["health"], responses=ERROR_RESPONSES)


@router.get("/livez", response_model=Live, summary="The process is up (never needs a key)")
def livez() -> dict:
    return {"status": "ok"}


@router.get(
    "/readyz",
    response_model=Ready,
    responses={503: {"model": Ready, "description": "Not ready (see reasons)"}},
    summary="Models loaded, worker alive and queue not full",
)
def readyz(runtime: RuntimeDep, _: Principal) -> JSONResponse:
    report = Ready.model_validate(runtime.readiness()).model_dump(mode="json")
    return JSONResponse(report, status_code=200 if report["ready"] else 503)


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}, "description": "Metrics"}},
    summary="Prometheus metrics",
)
def metrics(runtime: RuntimeDep, _: Principal) -> Response:
    store = runtime.store
    open_store = store is not None and not store.closed
    body = runtime.metrics.exposition(
        counts=store.counts() if open_store else {},
        depth=store.depth() if open_store else 0,
        capacity=runtime.settings.queue_max,
        worker=bool(runtime.worker and runtime.worker.alive),
        models=runtime.service is not None,
    )
    return Response(body, media_type=CONTENT_TYPE)
