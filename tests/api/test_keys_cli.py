"""`sketch2render keys add | list | revoke` and how `up` gives its web UI a key."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from sketch2render.cli import app
from sketch2render.cli.serve import _client_host, _give_the_ui_a_key
from sketch2render.config import Settings
from sketch2render.principals import Authenticator, KeyStore

runner = CliRunner()


def test_add_prints_the_key_once_list_never_shows_it_revoke_removes_it(tmp_path, monkeypatch):
    monkeypatch.setenv("S2R_HOME", str(tmp_path))
    monkeypatch.setenv("S2R_API_KEYS", "legacy")
    added = runner.invoke(app, ["keys", "add", "alice", "--role", "user"])
    assert added.exit_code == 0, added.output
    key = added.stdout.strip().splitlines()[0]
    assert key.startswith("s2r_")
    assert Authenticator([], KeyStore(tmp_path / "keys.json")).authenticate(f"Bearer {key}").name == "alice"
    again = runner.invoke(app, ["keys", "add", "alice"])
    assert again.exit_code == 1 and "already has a key" in again.output
    listed = runner.invoke(app, ["keys", "list", "--json"])
    rows = json.loads(listed.stdout)
    assert [(r["name"], r["role"], r["source"]) for r in rows][0] == ("alice", "user", "keys add")
    assert rows[1]["source"] == "S2R_API_KEYS" and rows[1]["role"] == "admin"
    assert key not in listed.stdout and "legacy" not in listed.stdout
    assert runner.invoke(app, ["keys", "revoke", "alice"]).exit_code == 0
    assert runner.invoke(app, ["keys", "revoke", "alice"]).exit_code == 1
    assert runner.invoke(app, ["keys", "add", "Not A Name"]).exit_code == 1


def test_up_gives_its_ui_the_right_key(tmp_path):
    env: dict[str, str] = {}
    assert _give_the_ui_a_key(Settings(home=tmp_path), env) == "" and env == {}  # no keys: no key
    env = {}
    _give_the_ui_a_key(Settings(home=tmp_path, api_keys=["first", "second"]), env)
    assert env == {"S2R_API_KEY": "first"}  # as before principals
    KeyStore(tmp_path / "keys.json").add("alice", "user")
    env = {}
    assert "local" in _give_the_ui_a_key(Settings(home=tmp_path), env)
    assert env["S2R_API_KEY"] == env["S2R_UI_KEY"] and env["S2R_UI_KEY"].startswith("s2r_")
    ui = Authenticator.from_settings(Settings(home=tmp_path, ui_key=env["S2R_UI_KEY"]))
    assert ui.authenticate(f"Bearer {env['S2R_UI_KEY']}").name == "local"
    env = {}
    _give_the_ui_a_key(Settings(home=tmp_path, api_key="mine"), env)
    assert env == {}  # S2R_API_KEY given: the UI acts as you


def test_up_reaches_the_api_where_it_binds():
    assert _client_host("127.0.0.1") == "127.0.0.1"
    assert _client_host("0.0.0.0") == "127.0.0.1" and _client_host("::") == "127.0.0.1"
    assert _client_host("192.168.1.20") == "192.168.1.20" and _client_host("::1") == "[::1]"


def test_the_ui_listens_beyond_loopback_only_with_keys(tmp_path):
    from typer.testing import CliRunner

    from sketch2render.cli import app
    from sketch2render.cli.serve import ui_command

    refused = CliRunner().invoke(app, ["ui"], env={"S2R_HOME": str(tmp_path), "S2R_HOST": "0.0.0.0"})
    assert refused.exit_code == 1 and "refusing to listen on 0.0.0.0" in refused.output
    command = ui_command(8501, "http://10.0.0.5:8000", 20 * 1024 * 1024, "0.0.0.0")
    assert command[command.index("--server.address") + 1] == "0.0.0.0"
    assert ui_command(8501, "http://127.0.0.1:8000", 1024)[command.index("--server.address") + 1] == "127.0.0.1"


def test_with_a_database_url_the_cli_manages_the_keys_every_server_reads(tmp_path, monkeypatch, postgres_url):
    """`keys add/revoke` with the servers' S2R_DATABASE_URL: a server process's authenticator (here
    one built from the same settings) accepts the key from its next request, and refuses it once revoked."""
    monkeypatch.setenv("S2R_HOME", str(tmp_path))
    monkeypatch.setenv("S2R_DATABASE_URL", postgres_url)
    server = Authenticator.from_settings(Settings(home=tmp_path, database_url=postgres_url))
    assert not server.enabled
    added = runner.invoke(app, ["keys", "add", "alice", "--role", "admin", "--json"])
    assert added.exit_code == 0, added.output
    key = json.loads(added.stdout)["key"]
    assert server.authenticate(f"Bearer {key}").name == "alice" and server.enabled
    assert runner.invoke(app, ["keys", "add", "bob"]).exit_code == 0
    assert [r["name"] for r in json.loads(runner.invoke(app, ["keys", "list", "--json"]).stdout)] == ["alice", "bob"]
    assert not (tmp_path / "keys.json").exists()  # nothing in the data folder
    assert runner.invoke(app, ["keys", "revoke", "alice"]).exit_code == 0
    assert server.authenticate(f"Bearer {key}") is None and server.enabled
