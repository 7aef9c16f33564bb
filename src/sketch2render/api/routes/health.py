"""Liveness, readiness, Prometheus metrics (admins: it names every principal), `/v1/me`: who
the caller is and what it may do, and `/v1/families`: the model families served."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from ..deps import AdminOnly, Caller, RuntimeDep
from ..handlers import ERROR_RESPONSES
from ..metrics import CONTENT_TYPE
from ..views import FamilyList, Live, Me, Ready

router = APIRouter(tags=["health"], responses=ERROR_RESPONSES)


@router.get("/livez", response_model=Live, summary="The process is up (never needs a key)", operation_id="livez")
def livez() -> dict:
    return {"status": "ok"}


@router.get(
    "/readyz",
    response_model=Ready,
    responses={503: {"model": Ready, "description": "Not ready (see reasons)"}},
    summary="Models loaded, worker alive and claiming jobs, queue not full, required servers reachable",
    operation_id="readyz",
)
def readyz(runtime: RuntimeDep, _: Caller) -> JSONResponse:
    report = Ready.model_validate(runtime.readiness()).model_dump(mode="json")
    return JSONResponse(report, status_code=200 if report["ready"] else 503)


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}, "description": "Metrics"}},
    summary="Prometheus metrics (admins only: per-principal counters name every principal)",
    operation_id="metrics",
)
def metrics(runtime: RuntimeDep, _: AdminOnly) -> Response:
    store = runtime.store
    open_store = store is not None and not store.closed
    ready = runtime.readiness()["ready"]  # also counts the faults its checks find
    body = runtime.metrics.exposition(
        counts=store.counts() if open_store else {},
        depth=store.depth() if open_store else 0,
        capacity=runtime.settings.queue_max,
        worker=bool(runtime.worker and runtime.worker.alive),
        models=runtime.service is not None,
        queued_by_principal=store.queued_by_owner() if open_store else {},
        ready=ready,
    )
    return Response(body, media_type=CONTENT_TYPE)


@router.get("/v1/me", response_model=Me, summary="Who this key is, and what it may do", operation_id="me")
def me(runtime: RuntimeDep, caller: Caller) -> dict:
    s = runtime.settings
    store = runtime.store
    queued = store.depth(caller.name) if store is not None and not store.closed else 0
    return {
        "name": caller.name,
        "role": caller.role,
        "can_add_styles": caller.is_admin or s.users_can_add_styles,
        "can_remove_styles": caller.is_admin,
        "can_see_all_jobs": caller.is_admin,
        "queued": queued,
        "queue_max": min(s.queue_max_per_principal, s.queue_max),
        "rate_limit": s.rate_limit,
        "rate_burst": s.rate_burst,
    }


@router.get(
    "/v1/families",
    response_model=FamilyList,
    summary="The model families this server serves: the default, what each supports, which are loaded",
    operation_id="families",
)
def families(runtime: RuntimeDep, _: Caller) -> dict:
    served = runtime.families
    return {"default": served.default if served is not None else None, "families": runtime.family_summaries()}
