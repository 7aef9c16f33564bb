"""Every command in the README's code blocks, run on the tiny models, so the README cannot drift.

`COMMANDS` maps each README command line (its trailing comment cut) to what runs for it: the
same CLI arguments (in process, through typer's runner) with the README's placeholders filled in
and renders cut to 2 steps at 128 px (the suite stays fast; the options are the README's), or a
one-line reason it is not run here and which test runs it instead. A README line missing from
the table, a stale entry, or a README option that the run leaves out fails the first test.
The `curl` lines go to the API app (FastAPI's test client on the same data folder and models);
the Python example runs with `exec`.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
from pathlib import Path

import pytest
from PIL import Image, ImageDraw
from typer.testing import CliRunner

from sketch2render.cli import app
from sketch2render.render import read_recipe
from sketch2render.sketch import imaging

ROOT = Path(__file__).parents[2]
README = ROOT / "README.md"
SKETCH = ROOT / "src" / "sketch2render" / "data" / "sketches" / "chiriqui_fig76_vase.png"
STARTS = ("sketch2render ", ".venv/bin/sketch2render ", "make ", "curl ", "S2R_", "python -m ")
QUICK = ["--steps", "2", "--size", "128"]  # added to every render (128: regions refuse smaller renders)

Run = list[list[str]]
COMMANDS: dict[str, Run | str] = {
    "make run": "`make setup` then `sketch2render up`: tests/ui/test_browser.py starts `up` and uses it",
    "make test": "what CI runs (.ci/run), and so this test",
    "make test-fast": "a part of make test: the tests it selects run there too",
    ".venv/bin/sketch2render models download": "needs the network: tests/e2e/test_models_download.py runs it"
    " against a stand-in hub",
    ".venv/bin/sketch2render doctor": [["doctor"]],
    "sketch2render styles import-defaults": [["styles", "import-defaults"]],
    'sketch2render styles search "swirling night sky" --k 5 --json': [
        ["styles", "search", "swirling night sky", "--k", "5", "--json"]
    ],
    'sketch2render styles add my_style.jpg --title "Rust and teal" --tags "poster,flat colour" --license "CC0"': [
        [
            "styles",
            "add",
            "my_style.jpg",
            "--title",
            "Rust and teal",
            "--tags",
            "poster,flat colour",
            "--license",
            "CC0",
        ]
    ],
    "sketch2render styles list | remove ID": [["styles", "list"], ["styles", "remove", "{MINE}"]],
    'sketch2render render sketch.png --prompt "swirling night sky" --seed 7 --steps 20 --out out.png --json': [
        ["render", "sketch.png", "--prompt", "swirling night sky", "--seed", "7", "--steps", "2"]
        + ["--size", "128", "--out", "out.png", "--json"]
    ],
    'sketch2render render sketch.png -p "gold ornamental" --style ID --style ID2': [
        ["render", "sketch.png", "-p", "gold ornamental", "--style", "{ID}", "--style", "{ID2}", *QUICK]
    ],
    'sketch2render render sketch.png -p "stormy sea" --blend --top-k 3 --style-mode style-only': [
        ["render", "sketch.png", "-p", "stormy sea", "--blend", "--top-k", "3", "--style-mode", "style-only", *QUICK]
    ],
    'sketch2render render sketch.png -p "gold ornamental" --control lineart --simplify 0.5': [
        ["render", "sketch.png", "-p", "gold ornamental", "--control", "lineart", "--simplify", "0.5", *QUICK]
    ],
    'sketch2render render sketch.png -p "gold ornamental" --speed fast': [
        ["render", "sketch.png", "-p", "gold ornamental", "--speed", "fast", "--size", "64"],
        ["render", "sketch.png", "-p", "gold ornamental", "--speed", "live", "--size", "64"],
    ],
    'sketch2render styles feedback --prompt "cosy cottage kitchen" --chosen ID': [
        ["styles", "feedback", "--prompt", "cosy cottage kitchen", "--chosen", "{ID}"],
        ["styles", "feedback", "--prompt", "cosy cottage kitchen", "--rejected", "{ID2}"],
    ],
    "sketch2render styles feedback --export signals.jsonl | --import signals.jsonl | --reset": [
        ["styles", "feedback", "--export", "signals.jsonl"],
        ["styles", "feedback", "--reset"],
        ["styles", "feedback", "--import", "signals.jsonl"],
    ],
    "sketch2render eval retrieval --queries Q.tsv [--train T.tsv] | --bundled": [
        ["eval", "retrieval", "--queries", "{DATA}/test.tsv", "--train", "{DATA}/train.tsv"],
        ["eval", "retrieval", "--bundled"],
    ],
    'sketch2render render sketch.png -p "a house" --region roof.png="gold leaf" --region sky.png="swirling night"': [
        [
            "render",
            "sketch.png",
            "-p",
            "a house",
            "--region",
            "roof.png=gold leaf",
            "--region",
            "sky.png=swirling night",
        ]
        + QUICK
    ],
    'sketch2render edit out.png --mask door.png -p "a red door"': [
        ["edit", "out.png", "--mask", "door.png", "-p", "a red door"]
    ],
    "sketch2render upscale out.png --factor 2": [["upscale", "out.png", "--factor", "2"]],
    'sketch2render render house.png -p "a house at dusk" --seed 7 -o out/house.png'
    ' --region roof.png="gold leaf ornament" --region sky.png="swirling night sky"': [
        ["render", "house.png", "-p", "a house at dusk", "--seed", "7", "-o", "out/house.png"]
        + ["--region", "roof.png=gold leaf ornament", "--region", "sky.png=swirling night sky", *QUICK]
    ],
    'sketch2render edit out/house.png --mask door.png -p "a red lacquered door"': [
        ["edit", "out/house.png", "--mask", "door.png", "-p", "a red lacquered door"]
    ],
    "sketch2render upscale out/house-edit.png --factor 2": [["upscale", "out/house-edit.png", "--factor", "2"]],
    "sketch2render controls sketch.png --out controls.png": [["controls", "sketch.png", "--out", "controls.png"]],
    "sketch2render serve [--host --port]": "a server: tests/ray/test_serve_cli.py runs `serve`",
    "sketch2render ui [--port]": "a server: tests/ui/test_browser.py runs the UI (through `up`)",
    "sketch2render up [--api-port --ui-port]": "a server: tests/ui/test_browser.py runs `up --api-port --ui-port`",
    "sketch2render models info [--profile sdxl] | build-tiny [DIR]": [
        ["models", "info"],
        ["models", "info", "--profile", "tiny-sdxl"],
        ["models", "build-tiny", "{DIR}"],
    ],
    'sketch2render render sketch.png -p "gold ornamental" --family sdxl': (
        "needs a served SDXL profile: tests/e2e/test_cli_families.py runs --family on tiny-sdxl"
    ),
    (
        "sketch2render models download [--profile sd15|sdxl] [--with NAMES | --all] "
        "[--variant auto|fp16|full] [--dry-run]"
    ): ("needs the network: tests/e2e/test_models_download.py runs each option against a stand-in hub"),
    "sketch2render doctor [--json]": [["doctor", "--json"]],
    "sketch2render keys add NAME --role user|admin | list | revoke NAME": [
        ["keys", "add", "bob", "--role", "user"],
        ["keys", "add", "carol", "--role", "admin"],
        ["keys", "list"],
        ["keys", "revoke", "bob"],
    ],
    "sketch2render eval --sketches DIR --prompts prompts.txt --out report/": [
        ["eval", "--sketches", "sketches", "--prompts", "prompts.txt", "--out", "report/", *QUICK]
    ],
    "sketch2render bench retrieval|overhead|startup|gpu|hires [--json] [--size tiny]": [
        ["bench", "gpu", "--json", "--size", "tiny"]  # the others: tests/unit/test_benchmarks.py
    ],
    'curl -s -X POST localhost:8000/v1/renders -F sketch=@sketch.png -F prompt="swirling night sky" -F seed=7': "api",
    "curl -s localhost:8000/v1/renders/<id>": "api",
    "curl -s -o out.png localhost:8000/v1/renders/<id>/image": "api",
    "sketch2render keys add alice --role user": [["keys", "add", "alice", "--role", "user"]],
    "sketch2render keys add ops --role admin": [["keys", "add", "ops", "--role", "admin"]],
    "sketch2render keys list": [["keys", "list"]],
    "sketch2render keys revoke alice": [["keys", "revoke", "alice"]],
    "S2R_HOST=0.0.0.0 sketch2render serve": "a public server: tests/api/test_server.py checks the bind rule",
    'curl -H "Authorization: Bearer $KEY" http://server:8000/v1/me': "a keyed server: tests/api/test_principals.py",
}


def readme_commands() -> list[str]:
    found = []
    for lang, body in re.findall(r"```(\w*)\n(.*?)```", README.read_text(encoding="utf-8"), re.S):
        if lang == "python":
            continue
        for line in re.sub(r"\s*\\\n\s*", " ", body).splitlines():  # a command continued with a backslash
            command = re.split(r"\s+#\s", line, maxsplit=1)[0].strip()
            if command.startswith(STARTS) or command in ("make run", "make test"):
                found.append(command)
    return found


def readme_python() -> str:
    (code,) = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    return code


def options(line: str) -> set[str]:
    return {t for t in re.findall(r"(?<![\w-])(--?[a-z][\w-]*)", line) if t != "-s"}


def test_every_readme_command_is_in_the_table_and_runs_with_its_options():
    commands = readme_commands()
    assert sorted(set(commands)) == sorted(COMMANDS), "README commands and this test's table differ"
    for line, run in COMMANDS.items():
        if isinstance(run, list) and line.startswith(("sketch2render", ".venv/bin/sketch2render")):
            given = {token for argv in run for token in argv}
            missing = {o for o in options(line) if o not in given}
            assert not missing, f"{line!r}: the test does not run {sorted(missing)}"


@pytest.fixture
def workdir(tmp_path, tiny_models_dir, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name, value in {"S2R_HOME": str(tmp_path / "home"), "S2R_MODELS": str(tiny_models_dir)}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("S2R_DEVICE", "cpu")
    shutil.copy(SKETCH, tmp_path / "sketch.png")
    shutil.copy(SKETCH, tmp_path / "chair.png")
    shutil.copy(SKETCH, tmp_path / "house.png")
    size = Image.open(SKETCH).size
    roof, sky = Image.new("L", size), Image.new("L", size)  # region masks: the sketch's size
    ImageDraw.Draw(roof).rectangle((0, size[1] // 3, size[0], size[1] // 2), fill=255)
    ImageDraw.Draw(sky).rectangle((0, 0, size[0], size[1] // 3), fill=255)
    roof.save(tmp_path / "roof.png")
    sky.save(tmp_path / "sky.png")
    render_size = imaging.resize_for_generation(Image.open(SKETCH).convert("RGB"), 128).size
    door = Image.new("L", render_size)  # an edit mask: the render's size
    ImageDraw.Draw(door).rectangle(
        (render_size[0] // 3, render_size[1] // 2, render_size[0] // 2, render_size[1]), fill=255
    )
    door.save(tmp_path / "door.png")
    (tmp_path / "sketches").mkdir()
    shutil.copy(SKETCH, tmp_path / "sketches" / "vase.png")
    (tmp_path / "prompts.txt").write_text("a vase, ink\n")
    image = Image.new("RGB", (64, 48), (180, 90, 40))
    ImageDraw.Draw(image).rectangle((20, 10, 44, 38), fill=(30, 120, 120))
    image.save(tmp_path / "my_style.jpg")
    return tmp_path


def cli(*args: str):
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, f"sketch2render {shlex.join(args)} failed:\n{result.output}"
    return result


def curl(client, line: str, ids: dict[str, str]) -> None:
    """A README curl line against the app: -X, -F k=v / k=@file, -o FILE, the URL's path."""
    tokens = shlex.split(line.replace("<id>", ids.get("id", "<id>")))[1:]
    method, data, files, out, path = "GET", {}, {}, None, ""
    while tokens:
        token = tokens.pop(0)
        if token == "-X":
            method = tokens.pop(0)
        elif token == "-F":
            key, value = tokens.pop(0).split("=", 1)
            if value.startswith("@"):
                files[key] = (value[1:], Path(value[1:]).read_bytes(), "image/png")
            else:
                data[key] = value
        elif token == "-o":
            out = tokens.pop(0)
        elif not token.startswith("-"):
            path = "/" + token.split("/", 1)[1]
    if method == "POST":
        data.update(steps="2", size="64")  # as QUICK for the CLI
    response = client.request(method, path, data=data or None, files=files or None)
    assert response.status_code in (200, 202), (line, response.status_code, response.text[:300])
    if method == "POST":
        ids["id"] = response.json()["id"]
    elif out:
        Path(out).write_bytes(response.content)
    elif response.json()["status"] not in ("succeeded", "failed", "cancelled"):
        from api.conftest import wait_for

        assert wait_for(client, ids["id"], timeout=120)["status"] == "succeeded"


def test_the_readme_commands_run_on_the_tiny_models(workdir):
    from fastapi.testclient import TestClient

    from sketch2render.api import create_app
    from sketch2render.config import Settings

    cli("styles", "list")  # a new data folder: the bundled styles arrive
    titles = {s["title"]: s["id"] for s in json.loads(cli("styles", "list", "--limit", "100", "--json").stdout)}
    mine = json.loads(cli("styles", "add", "my_style.jpg", "--json").stdout)[0]["id"]
    wave = next(i for title, i in titles.items() if title.startswith("The Great Wave"))
    fill = {"ID": titles["The Starry Night"], "ID2": wave, "MINE": mine}
    fill["DIR"] = str(workdir / "tiny-copy")
    fill["DATA"] = str(ROOT / "src" / "sketch2render" / "data" / "retrieval")
    ids: dict[str, str] = {}
    with TestClient(create_app(Settings())) as client:  # first: the `keys` lines below turn auth on
        for line in (line for line, run in COMMANDS.items() if run == "api"):
            curl(client, line, ids)
    for run in (run for run in COMMANDS.values() if isinstance(run, list)):
        for argv in run:
            cli(*(arg.format(**fill) for arg in argv))
    assert read_recipe(Path("out.png").read_bytes()).seed == 7  # the curl -o line, then the render line
    assert Path("controls.png").exists() and Path("report").is_dir()
    chain = read_recipe(Path("out/house-edit-x2.png").read_bytes())  # render -> edit -> upscale, linked
    assert chain.operation and chain.parent is not None and chain.parent.recipe.parent is not None  # edit <- render
    assert mine not in {s["id"] for s in json.loads(cli("styles", "list", "--limit", "100", "--json").stdout)}


def test_the_readme_python_example_runs(workdir):
    code = readme_python()
    quick = code.replace("seed=1)", "seed=1, steps=2, size=64)")
    assert quick != code, "the README's Python example changed: update this test"
    exec(compile(quick, "README.md", "exec"), {})
    recipe = read_recipe(Path("out/render.png").read_bytes())
    assert recipe.seed == 1 and recipe.params.prompt == "gold ornamental"
    assert Path("out/render.control.png").exists() and Path("out/render.json").exists()
