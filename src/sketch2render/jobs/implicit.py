"""Implicit feedback: a finished render whose styles its user picked (`style_ids`, the UI's *Pick
one* / *Blend several*) while retrieval suggested others teaches retrieval (retrieval/signals.py):
`chosen` for each picked style, a weak `passed_over` for each suggestion ranked above the lowest
picked one that was not picked. A render whose picks retrieval already ranked first teaches
nothing. Called after each finished job (the worker's `on_finished` hook, api/runtime.py).
"""

from __future__ import annotations

import logging

from ..errors import S2RError
from ..retrieval import HybridSearch
from ..retrieval.signals import FeedbackSignal
from ..schemas import RenderParams
from .store import Job, JobStatus

log = logging.getLogger("sketch2render.jobs.implicit")


def implicit_signals(search: HybridSearch, job: Job) -> list[FeedbackSignal]:
    """Record (and return) what a finished render with picked styles says; [] when nothing."""
    if search.learning is None or job.status != JobStatus.SUCCEEDED or not job.owner:
        return []
    params = RenderParams.model_validate(job.params)
    picked = list(dict.fromkeys(params.style_ids))
    prompt = params.prompt.strip()
    if not picked or not prompt:
        return []
    suggested = [hit.id for hit in search.search(prompt, k=params.top_k, principal=job.owner)]
    if suggested[: len(picked)] == picked or set(suggested[: len(picked)]) == set(picked):
        return []  # retrieval agreed: nothing to correct
    ranks = [suggested.index(i) for i in picked if i in suggested]
    above = suggested[: max(ranks) if ranks else len(suggested)]
    votes = [(i, "chosen") for i in picked] + [(i, "passed_over") for i in above if i not in picked]
    return search.learning.feedback.store.add_many(job.owner, prompt, votes, source="render")


def record_implicit(search: HybridSearch | None, job: Job) -> None:
    """`implicit_signals`, for a hook: a problem is logged, never raised."""
    if search is None:
        return
    try:
        implicit_signals(search, job)
    except S2RError as exc:
        log.warning("no implicit feedback from render %s: %s", job.id, exc.message)
