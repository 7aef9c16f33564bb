"""The `sketch2render` command line: a thin wrapper over the library (`render`, `styles`, `models`)
and the servers (`serve`, `ui`, `up`, `chroma-server`). One module per command group; this module
assembles them into one Typer app (no registration by import side effect)."""

from __future__ import annotations

import typer

from . import collections, doctor, edit, evaluate, history, models, render, retrieval, scale, serve, styles
from . import keys as keys_cli

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Sketch + words -> render.")
app.command()(render.render)
app.command()(render.controls)
app.command()(edit.edit)
app.command()(edit.upscale)
app.command()(history.history)
app.add_typer(styles.app, name="styles")
app.add_typer(collections.app, name="collections")
app.add_typer(models.app, name="models")
app.add_typer(keys_cli.app, name="keys")
app.command()(serve.serve)
app.command()(serve.ui)
app.command()(serve.up)
# `eval --sketches ...` renders a grid (the group's own options); `eval retrieval` scores retrieval.
eval_app = typer.Typer(help="Evaluate renders (a grid of settings) or style retrieval (`eval retrieval`).")
eval_app.callback(invoke_without_command=True)(evaluate.eval_command)
eval_app.command("retrieval")(retrieval.eval_retrieval)
app.add_typer(eval_app, name="eval")
app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True}, add_help_option=False)(
    evaluate.bench
)
app.command("chroma-server")(scale.chroma_server)
app.command()(doctor.doctor)

__all__ = ["app"]
