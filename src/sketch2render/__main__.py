"""`python -m sketch2render` = the `sketch2render` command."""

from .cli import app

app()
