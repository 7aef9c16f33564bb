"""The least an HTTP render API can do, for `benchmarks.floors`: a multipart submission that only
reads the upload, and an event stream fed from another thread (as the render worker feeds the
API's). Served by uvicorn as the API is. Benchmarks only."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import FastAPI, File, Form, UploadFile
from fastapi.responses import JSONResponse
from fastapi.sse import EventSourceResponse, ServerSentEvent

app = FastAPI()
PUSH_AFTER_S = 0.005  # the stream is open and waiting when the push comes


@app.get("/ready")
def ready() -> dict:
    return {"ready": True}


@app.post("/renders", status_code=202)
def submit(
    sketch: Annotated[UploadFile, File()],
    prompt: Annotated[str, Form()],
    steps: Annotated[int, Form()],
    size: Annotated[int, Form()],
    seed: Annotated[int, Form()],
) -> JSONResponse:
    data = sketch.file.read()
    return JSONResponse({"id": f"{seed:032x}", "bytes": len(data)}, status_code=202)


@app.get("/events", response_class=EventSourceResponse)
async def events() -> AsyncIterator[ServerSentEvent]:
    loop, queue = asyncio.get_running_loop(), asyncio.Queue()

    def push() -> None:  # another thread, as the worker: the time it pushed, on the shared monotonic clock
        loop.call_soon_threadsafe(queue.put_nowait, time.perf_counter())

    threading.Timer(PUSH_AFTER_S, push).start()
    yield ServerSentEvent(event="status", data={"pushed": await queue.get()})
