"""Two machines on one: render replicas on a Ray node that cannot see the API's data folder.

A Ray head and a second node are started as their own processes (`ray start --block`, token auth as a
real cluster has it); the second node runs in its own mount namespace with an empty tmpfs over the API's
`S2R_HOME` and offers `{"render": 2}`. The API, a real server started here, joins the head
(`S2R_RAY_ADDRESS`) and pins its replica to that node (`S2R_RAY_RESOURCES='{"render": 1}'`). A render
with retrieval and the owner's correction, a render with region styles, an edit and an upscale then
all succeed and are served by the API, every one of them run by a replica on the second node, which sees
the data folder empty. Nodes are stopped by killing their process groups, never `ray stop` (which would
stop every Ray process on the machine, other tests' too). Runs only as root (`unshare -m`, `mount`).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import httpx
import pytest
from api.conftest import wait_for as api_wait_for
from PIL import Image, ImageDraw
from sessions import kill_session, stop_server
from waiting import eventually

from sketch2render.render import read_recipe
from sketch2render.scale.chroma_server import free_port
from sketch2render.sketch.imaging import encode_png

RAY = str(Path(sys.executable).parent / "ray")
START = "import sys; from sketch2render.cli import app; sys.argv[0] = 'sketch2render'; app()"
SIZE = 64
wait_for = partial(api_wait_for, timeout=180.0, interval=0.2)

PROBE = """
import json, os, sys
import ray
from ray._private import state

address, home, names = sys.argv[1], sys.argv[2], sys.argv[3:]
ray.init(address=address, log_to_driver=False)
render_nodes = [n["NodeID"] for n in ray.nodes() if n["Alive"] and n["Resources"].get("render")]

@ray.remote(num_cpus=0, resources={"render": 1})
def look(path):
    return ray.get_runtime_context().get_node_id(), sorted(os.listdir(path))

actors = {a.get("Name"): a["Address"]["NodeID"] for a in state.actors().values() if a.get("State") == "ALIVE"}
node, there = ray.get(look.remote(home))
print(json.dumps({
    "render_nodes": render_nodes, "probe_node": node, "there": there, "here": sorted(os.listdir(home)),
    "replica_nodes": {name: actors.get(name) for name in names},
}))
"""


def sketch_png() -> bytes:
    image = Image.new("RGB", (SIZE, SIZE), "white")
    draw = ImageDraw.Draw(image)
    draw.rectangle((8, 8, 56, 56), outline="black", width=2)
    draw.line((8, 8, 56, 56), fill="black", width=2)
    return encode_png(image)


def box_mask(box: tuple[int, int, int, int]) -> bytes:
    mask = Image.new("L", (SIZE, SIZE), 0)
    ImageDraw.Draw(mask).rectangle(box, fill=255)
    return encode_png(mask)


def can_unshare() -> str | None:
    """Why a node cannot get its own mount namespace here, or None."""
    if os.geteuid() != 0:
        return "needs root: the second node runs in its own mount namespace (unshare -m, mount -t tmpfs)"
    if shutil.which("unshare") is None:
        return "needs util-linux's unshare"
    tried = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "mount", "-t", "tmpfs", "tmpfs", tempfile.gettempdir()],
        capture_output=True,
        text=True,
    )
    return None if tried.returncode == 0 else f"unshare/mount not permitted here: {tried.stderr.strip()}"


def stop(processes: list[subprocess.Popen]) -> None:
    """TERM each node's process group (its raylet, GCS, agents), all at once; KILL what is left after a
    while, and whatever of their sessions remains (Ray's workers put themselves in groups of their own)."""
    for sig, wait in ((signal.SIGTERM, 15.0), (signal.SIGKILL, 5.0)):
        for process in processes:
            try:
                os.killpg(process.pid, sig)
            except ProcessLookupError:
                pass
        try:
            eventually(lambda: all(p.poll() is not None for p in processes), wait, 0.2)
            break
        except AssertionError:
            continue
    for process in processes:
        kill_session(process.pid)
        process.wait(10)


def ray_node(args: list[str], log: Path, env: dict[str, str], *, mask: Path | None = None) -> subprocess.Popen:
    """`ray start --block ...` in a session of its own; with `mask`, in its own mount namespace with an
    empty tmpfs over that folder."""
    command = [RAY, "start", "--block", "--disable-usage-stats", *args]
    if mask is not None:
        script = f'mount -t tmpfs tmpfs "{mask}" && exec "$@"'
        command = ["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh", *command]
    with log.open("wb") as out:
        return subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


@pytest.fixture(scope="module")
def two_nodes() -> Iterator[dict]:
    if (why := can_unshare()) is not None:
        pytest.skip(why)
    root = Path(tempfile.mkdtemp(prefix="s2r-2n-"))  # short: Ray's socket paths live under it
    home, node_home, temp = root / "api-home", root / "node-home", root / "ray"
    for folder in (home, node_home, temp):
        folder.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("S2R_", "RAY_"))}
    env.update(RAY_AUTH_MODE="token", OMP_NUM_THREADS="1")
    port = free_port()
    address = f"127.0.0.1:{port}"
    small = ["--object-store-memory", str(100 * 1024 * 1024), "--dashboard-agent-listen-port"]
    head = ray_node(
        ["--head", "--port", str(port), "--temp-dir", str(temp), "--include-dashboard=false", "--num-cpus", "1",
         "--ray-client-server-port", str(free_port()), *small, str(free_port())],
        root / "head.log",
        env,
    )  # fmt: skip
    nodes = [head]
    try:
        node = ray_node(
            ["--address", address, "--num-cpus", "2", "--resources", json.dumps({"render": 2}), *small,
             str(free_port())],
            root / "node.log",
            {**env, "S2R_HOME": str(node_home)},  # the node's own folder (replica_renderer.node_settings)
            mask=home,
        )  # fmt: skip
        nodes.append(node)
        yield {"root": root, "home": home, "node_home": node_home, "address": address, "env": env}
    finally:
        stop(nodes)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def api(two_nodes: dict, tiny_models_dir: Path) -> Iterator[tuple[httpx.Client, Path]]:
    root, home = two_nodes["root"], two_nodes["home"]
    env = {
        **two_nodes["env"],
        "S2R_BACKEND": "ray",
        "S2R_HOME": str(home),
        "S2R_MODELS": str(tiny_models_dir),  # a shared models folder: the node resolves the same path
        "S2R_DEVICE": "cpu",
        "S2R_BUNDLED_STYLES": "false",
        "S2R_RAY_ADDRESS": two_nodes["address"],
        "S2R_RAY_RESOURCES": json.dumps({"render": 1}),
        "S2R_RAY_MIN_REPLICAS": "1",
        "S2R_RAY_MAX_REPLICAS": "1",
        "S2R_UPSCALE_TILE": "128",
        "S2R_SENTENCE_MODEL": os.environ["S2R_SENTENCE_MODEL"],  # the stand-in (tests/conftest.py)
    }
    port = free_port()
    log = root / "api.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-c", START, "serve", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def tail() -> str:
        return "\n".join(
            f"--- {name}\n{(root / name).read_text(errors='replace')[-2500:]}"
            for name in ("api.log", "head.log", "node.log")
        )

    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:

            def ready() -> bool:
                assert process.poll() is None, tail()
                return client.get("/readyz").json().get("ready")

            eventually(ready, 300, 0.5, what=tail, ignoring=(httpx.HTTPError,))
            yield client, home
    finally:
        stop_server(process)


def add_style(client: httpx.Client, title: str, tags: str, colour: tuple[int, int, int]) -> str:
    image = encode_png(Image.new("RGB", (48, 32), colour))
    data = {"title": title, "tags": tags}
    added = client.post("/v1/styles", data=data, files={"image": ("s.png", image, "image/png")})
    assert added.status_code == 201, added.text
    return added.json()["id"]


def render(client: httpx.Client, files: list | None = None, **fields) -> dict:
    data = {"prompt": "a two-node poster", "steps": "2", "size": str(SIZE), "seed": "3", **fields}
    files = [("sketch", ("s.png", sketch_png(), "image/png")), *(files or [])]
    sent = client.post("/v1/renders", data=data, files=files)
    assert sent.status_code == 202, sent.text
    return finished(client, sent.json()["id"])


def finished(client: httpx.Client, job_id: str) -> dict:
    job = wait_for(client, job_id, {"succeeded", "failed", "cancelled"})
    assert job["status"] == "succeeded", job
    image = client.get(f"/v1/renders/{job_id}/image")  # served by the API from the job folder
    assert image.status_code == 200 and image.content.startswith(b"\x89PNG")
    job["recipe"] = read_recipe(image.content)
    return job


def used(styles: list[dict]) -> list[str]:
    return [hit["style"]["id"] for hit in styles if hit["weight"]]


def test_renders_regions_edits_and_upscales_run_on_a_node_without_the_data_folder(api, two_nodes):
    client, home = api
    vermilion = add_style(client, "Vermilion poster", "poster,vermilion", (227, 66, 52))
    cobalt = add_style(client, "Cobalt poster", "poster,cobalt", (0, 71, 171))
    # Retrieval with the owner's corrections (they live in the API process): a correction changes the choice.
    before = render(client)
    first = used(before["result"]["styles"])
    assert len(first) == 1 and first[0] in {vermilion, cobalt}
    other = cobalt if first[0] == vermilion else vermilion
    said = client.post("/v1/feedback", json={"prompt": "a two-node poster", "style_id": other, "signal": "chosen"})
    assert said.status_code == 201, said.text
    after = render(client, seed="4")
    assert used(after["result"]["styles"]) == [other]
    assert after["result"]["styles"][0]["explain"][0].startswith("feedback: +"), after["result"]["styles"][0]
    # A style per region: each region's prompt retrieves its own style, its image sent to the node.
    masks = [box_mask((0, 0, 31, 63)), box_mask((32, 0, 63, 63))]
    regions = render(
        client,
        files=[("region_mask", (f"m{i}.png", m, "image/png")) for i, m in enumerate(masks)],
        prompt="a box",
        region_prompt=["vermilion", "cobalt"],
    )
    assert [used(r["styles"]) for r in regions["result"]["regions"]] == [[vermilion], [cobalt]]
    # An edit of the region render (its parent image, mask and control image travel), then an upscale of it.
    area = box_mask((16, 16, 47, 47))
    edit = client.post(
        f"/v1/renders/{regions['id']}/edit",
        data={"prompt": "cobalt", "feather": "4"},
        files={"mask": ("m.png", area, "image/png")},
    )
    assert edit.status_code == 202, edit.text
    edited = finished(client, edit.json()["id"])
    assert edited["recipe"].operation["kind"] == "edit" and edited["recipe"].parent.id == regions["id"]
    assert used(edited["result"]["styles"]) == [cobalt]
    upscale = client.post(f"/v1/renders/{edited['id']}/upscale", data={"factor": "2"})
    assert upscale.status_code == 202, upscale.text
    big = finished(client, upscale.json()["id"])
    assert (big["recipe"].width, big["recipe"].height) == (2 * SIZE, 2 * SIZE)
    assert big["recipe"].operation["kind"] == "upscale" and big["recipe"].parent.id == edited["id"]
    # Every job ran on a replica of the second node, which sees the API's data folder empty.
    ids = [before["id"], after["id"], regions["id"], edited["id"], big["id"]]
    with sqlite3.connect(home / "jobs.sqlite3") as db:
        workers = dict(db.execute(f"SELECT id, worker_id FROM jobs WHERE id IN ({','.join('?' * len(ids))})", ids))
    assert set(workers) == set(ids) and all(w.startswith("SERVE_REPLICA::") for w in workers.values()), workers
    probe = subprocess.run(
        [sys.executable, "-c", PROBE, two_nodes["address"], str(home), *set(workers.values())],
        env=two_nodes["env"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert probe.returncode == 0, probe.stderr[-3000:]
    seen = json.loads(probe.stdout.strip().splitlines()[-1])
    (render_node,) = seen["render_nodes"]
    assert set(seen["replica_nodes"].values()) == {render_node}, seen
    assert seen["probe_node"] == render_node and seen["there"] == [], seen  # the node: an empty folder
    assert "jobs.sqlite3" in seen["here"] and "feedback.sqlite3" in seen["here"], seen  # the API's machine: the data
