"""API tests (a package, so `api.fakes` does not shadow `tests/fakes.py`)."""
