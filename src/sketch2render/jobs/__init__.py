"""Render jobs without HTTP: the persistent queue (SQLite), the worker thread(s) that run them, and
the executors that say where a job renders (in this process, or on Ray Serve replicas)."""

from .executor import Execution, Executor, LocalExecutor
from .pool import JobWorkerPool
from .store import Job, JobStatus, JobStore
from .worker import JobWorker

__all__ = ["Execution", "Executor", "Job", "JobStatus", "JobStore", "JobWorker", "JobWorkerPool", "LocalExecutor"]
