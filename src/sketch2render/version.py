"""The package version, in a module of its own so that any layer can read it without importing the
library API in `__init__` (which would make every layer depend on every other)."""

__version__ = "0.1.0"
