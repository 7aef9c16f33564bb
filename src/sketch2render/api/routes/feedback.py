"""Feedback over HTTP: corrections that retrieval learns from (retrieval/feedback.py).

`POST /v1/feedback` records "this style for this prompt" (`chosen`) or "not this style" (`rejected`);
`POST /v1/renders/{id}/feedback` a 👍/👎 on a finished render, applied to the styles it used (another
principal's render is a 404, like every job route). `GET /v1/feedback` lists the caller's own
signals (the CLI exports JSON Lines), `DELETE /v1/feedback` removes them. A signal belongs to the caller: with
`S2R_FEEDBACK_SCOPE=principal` (the default) it shapes only the caller's own retrieval.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Body
from pydantic import BaseModel, Field

from ...config import Settings
from ...errors import Conflict
from ...jobs import JobStatus
from ...retrieval import HybridSearch
from ...retrieval.signals import SignalStore
from ..deps import Caller, LibraryDep, OwnedJob, SearchDep, SettingsDep
from ..handlers import ERROR_RESPONSES

router = APIRouter(tags=["feedback"], responses=ERROR_RESPONSES)


class FeedbackIn(BaseModel):
    prompt: str = Field(min_length=1, max_length=1000, description="the prompt the style was (not) right for")
    style_id: str = Field(min_length=1, max_length=64)
    signal: Literal["chosen", "rejected"]


class RatingIn(BaseModel):
    rating: Literal["up", "down"]


class FeedbackOut(BaseModel):
    principal: str
    prompt: str
    style_id: str
    signal: str
    source: str  # api | rating | render (implicit) | cli | import
    created_at: float


class RatingOut(BaseModel):
    render_id: str
    rating: str
    prompt: str
    style_ids: list[str]  # the styles the render used, each of which got the rating


class FeedbackList(BaseModel):
    items: list[FeedbackOut]


class ResetOut(BaseModel):
    removed: int


_FALLBACK: dict[str, SignalStore] = {}


def signal_store(search: HybridSearch, settings: Settings) -> SignalStore:
    """The search's signal store; a search built without learning still records signals."""
    if search.learning is not None:
        return search.learning.feedback.store
    url = settings.store_url(settings.feedback_db)
    if url not in _FALLBACK:
        _FALLBACK[url] = SignalStore(url)
    return _FALLBACK[url]


@router.post(
    "/v1/feedback",
    status_code=201,
    response_model=FeedbackOut,
    summary="This style is (chosen) or is not (rejected) right for this prompt",
    operation_id="feedback-add",
)
def add_feedback(
    body: Annotated[FeedbackIn, Body()], library: LibraryDep, search: SearchDep, caller: Caller, settings: SettingsDep
) -> FeedbackOut:
    library.get_for(body.style_id, caller.name)  # 404 naming style_id: no such style, or another's private one
    item = signal_store(search, settings).add(caller.name, body.prompt, body.style_id, body.signal, source="api")
    return FeedbackOut(**{k: getattr(item, k) for k in FeedbackOut.model_fields})


@router.post(
    "/v1/renders/{job_id}/feedback",
    status_code=201,
    response_model=RatingOut,
    summary="Rate a finished render: up or down for each style it used",
    operation_id="renders-feedback",
    tags=["renders"],
)
def rate_render(
    body: Annotated[RatingIn, Body()], job: OwnedJob, search: SearchDep, caller: Caller, settings: SettingsDep
) -> RatingOut:
    if job.status != JobStatus.SUCCEEDED or not job.result:
        raise Conflict(f"render {job.id} is {job.status}: only a finished render can be rated", field="id")
    prompt = str(job.result.get("params", {}).get("prompt", "")).strip()
    used = [hit["style"]["id"] for hit in job.result.get("styles", []) if hit.get("weight")]
    if not used or not prompt:
        raise Conflict(f"render {job.id} used no style (or had no prompt): nothing to learn", field="id")
    signal_store(search, settings).add_many(caller.name, prompt, [(i, body.rating) for i in used], source="rating")
    return RatingOut(render_id=job.id, rating=body.rating, prompt=prompt, style_ids=used)


@router.get(
    "/v1/feedback",
    response_model=FeedbackList,
    summary="Your feedback signals, oldest first",
    operation_id="feedback-list",
)
def list_feedback(search: SearchDep, caller: Caller, settings: SettingsDep) -> FeedbackList:
    items = signal_store(search, settings).signals(caller.name)
    return FeedbackList(items=[FeedbackOut(**{k: getattr(i, k) for k in FeedbackOut.model_fields}) for i in items])


@router.delete(
    "/v1/feedback", response_model=ResetOut, summary="Remove all your feedback signals", operation_id="feedback-reset"
)
def reset_feedback(search: SearchDep, caller: Caller, settings: SettingsDep) -> ResetOut:
    return ResetOut(removed=signal_store(search, settings).reset(caller.name))
