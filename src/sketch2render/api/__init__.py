"""The HTTP API: FastAPI app factory, job store and worker, and the uvicorn runner.

`create_app(settings)` builds the app; `serve(settings)` runs it (see `server.py`).
"""

from .app import create_app
from .server import serve

__all__ = ["create_app", "serve"]
