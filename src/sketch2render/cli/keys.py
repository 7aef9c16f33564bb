"""`sketch2render keys add NAME --role user|admin | list | revoke NAME`: the API's keys.

Keys live hashed in the data folder (`principals.KeyStore`, `S2R_HOME/keys.json`), or, with
`S2R_DATABASE_URL`, in that database (`principals.shared.DatabaseKeyStore`; give the CLI the same
URL as the servers); `add` prints the new key once and never again. Every running server sees each
change from its next request on.
The keys of `S2R_API_KEYS` are listed too (as admins), never shown.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from ..principals import KeyRecords, Role, env_principal, open_key_store
from .common import JsonOpt, edge, print_json, settings

app = typer.Typer(no_args_is_help=True, help="API keys: named principals with a role (user or admin).")


def _store() -> KeyRecords:
    return open_key_store(settings())


@app.command("add")
@edge
def keys_add(
    name: Annotated[str, typer.Argument(help="Who the key is for (lowercase letters, digits, . _ -).")],
    role: Annotated[Role, typer.Option(help="user: render, see own jobs; admin: also manage styles, see all.")] = (
        Role.USER
    ),
    replace: Annotated[bool, typer.Option("--replace", help="Give NAME a new key; the old one stops working.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Make a key for NAME and print it once (store it now: only its hash is kept)."""
    record, key = _store().add(name, role, replace=replace)
    if as_json:
        print_json({"name": record.name, "role": record.role, "key": key})
        return
    typer.echo(key)
    typer.secho(
        f"key for {record.name!r} ({record.role}); shown once, keep it secret. "
        f"Use it as: Authorization: Bearer <key>  (web UI / CLI: S2R_API_KEY=<key>)",
        err=True,
        fg="green",
    )


@app.command("list")
@edge
def keys_list(as_json: JsonOpt = False) -> None:
    """List the principals that have a key (never the keys)."""
    cfg = settings()
    rows = [
        {"name": r.name, "role": str(r.role), "source": "keys add", "created_at": r.created_at}
        for r in open_key_store(cfg).records()
    ]
    rows += [
        {"name": env_principal(k).name, "role": "admin", "source": "S2R_API_KEYS", "created_at": None}
        for k in cfg.api_keys
    ]
    if as_json:
        print_json(rows)
        return
    if not rows:
        typer.echo("no keys: the API serves loopback only, without a key (add one: sketch2render keys add NAME)")
        return
    for row in rows:
        created = row["created_at"] and datetime.fromtimestamp(row["created_at"], UTC).strftime("%Y-%m-%d %H:%M UTC")
        typer.echo(f"{row['name']:24} {row['role']:6} {row['source']:13} {created or ''}")


@app.command("revoke")
@edge
def keys_revoke(name: str, as_json: JsonOpt = False) -> None:
    """Delete NAME's key; a running server refuses it (401) from its next request on. Their jobs stay."""
    record = _store().revoke(name)
    if as_json:
        print_json({"revoked": record.name, "role": record.role})
    else:
        typer.echo(f"revoked the key of {record.name!r} ({record.role})")
