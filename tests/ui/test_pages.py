"""Page logic of the web UI with Streamlit's AppTest against a fake API client (no server, no model)."""

from __future__ import annotations

import io
import subprocess
import sys

import httpx
import numpy as np
import pytest
from conftest import SKETCHES, FakeApi, png, principal
from PIL import Image
from streamlit.proto.TextInput_pb2 import TextInput as TextInputProto

from sketch2render.config import Settings
from sketch2render.errors import NoEdges
from sketch2render.ui.client import ApiClient, ApiError, ApiUnreachable, _form_fields
from sketch2render.ui.sketching import canvas_png, edge_preview
from sketch2render.ui.widgets import SMOKE_BANNER

SKETCH = (SKETCHES / "sa1885_helianthus.png").read_bytes()


def no_exceptions(at) -> None:
    assert not at.exception, [e.value for e in at.exception]


def button(at, label: str):
    return next(b for b in at.button if b.label == label)


def ready_to_render(at, prompt: str = "swirling night sky", steps: int = 2):
    at.run()
    at.file_uploader(key="sketch_upload").set_value(("helianthus.png", SKETCH, "image/png"))
    at.text_input(key="prompt").input(prompt)
    at.number_input(key="adv_steps_sd15").set_value(steps)
    return at.run()


# --- Render page ----------------------------------------------------------------------------
def test_prompt_shows_retrieved_styles_with_scores(app, fake_api: FakeApi) -> None:
    at = app().run()
    assert fake_api.searches == []  # no prompt, no search
    at.text_input(key="prompt").input("swirling night sky").run()
    no_exceptions(at)
    assert fake_api.searches == [("swirling night sky", 3)]
    markdown = [m.value for m in at.markdown]
    assert "**The Starry Night**" in markdown and "match **0.87**" in markdown and "match **0.55**" in markdown
    assert "CLIP cosine 0.31 · BM25 2.00" in [c.value for c in at.caption]
    assert at.radio(key="style_choice").value == "Let the system choose"


def test_render_submits_the_chosen_params_shows_progress_and_result(app, fake_api: FakeApi) -> None:
    at = ready_to_render(app())
    assert any("Canny" in c.value for c in at.caption)  # the edge preview before rendering
    assert len(at.image) >= 2 + 3  # sketch + edges, three style thumbnails
    at.radio(key="style_choice").set_value("Pick one").run()
    at.radio(key="pick_aaa111_bbb222_ccc333").set_value("bbb222")
    at.number_input(key="adv_seed").set_value(7)
    at.slider(key="adv_control").set_value(0.8)
    button(at, "Render").click().run()
    no_exceptions(at)

    _, params, filename = fake_api.submitted[0]
    assert filename == "helianthus.png"
    assert params["prompt"] == "swirling night sky" and params["steps"] == 2 and params["seed"] == 7
    assert params["style_ids"] == ["bbb222"] and params["blend"] is False
    assert params["control_strength"] == 0.8 and params["style_strength"] == 0.7 and params["num_images"] == 1
    assert fake_api.polls >= 4  # queued, step 1, step 2, succeeded
    assert [p.text for p in at.progress] == ["Done: step 2 / 2"]
    assert any("**Seed** `7`" in m.value for m in at.markdown)
    assert [b.label for b in at.download_button] == ["Download"]
    assert {m.label: m.value for m in at.metric} == {
        "Structure F1": "0.61",
        "Style similarity": "0.72",
        "Prompt alignment": "0.28",
    }
    assert "**Great Wave**" in [m.value for m in at.markdown]  # the style used, beside the result


def test_the_family_picker_offers_the_served_families_and_their_defaults(app, fake_api: FakeApi) -> None:
    at = ready_to_render(app())
    assert not [r for r in at.radio if r.key == "family"]  # one family served: nothing to pick
    fake_api.served = ["sd15", "sdxl"]
    at = app().run()
    picker = at.radio(key="family")
    assert picker.options == ["Stable Diffusion 1.5 (sd15)", "Stable Diffusion XL (sdxl)"]
    picker.set_value("sdxl").run()
    no_exceptions(at)
    assert at.selectbox(key="adv_size_sdxl").value == 1024  # the family's native size
    assert at.number_input(key="adv_steps_sdxl").value == 30
    at.file_uploader(key="sketch_upload").set_value(("helianthus.png", SKETCH, "image/png"))
    at.text_input(key="prompt").input("gold").run()
    button(at, "Render").click().run()
    no_exceptions(at)
    _, params, _ = fake_api.submitted[0]
    assert params["family"] == "sdxl" and params["size"] == 1024 and params["steps"] == 30


def test_blend_pins_several_styles_and_render_again_keeps_the_seed(app, fake_api: FakeApi) -> None:
    at = ready_to_render(app())
    at.radio(key="style_choice").set_value("Blend several").run()
    assert at.multiselect(key="blend_aaa111_bbb222_ccc333").value == ["aaa111", "bbb222"]
    button(at, "Render").click().run()
    assert fake_api.submitted[0][1]["style_ids"] == ["aaa111", "bbb222"]
    assert fake_api.submitted[0][1]["blend"] is True

    button(at, "Render again (same seed)").click().run()
    no_exceptions(at)
    again = fake_api.submitted[1][1]
    assert again["seed"] == 1234 and again["style_ids"] == ["aaa111", "bbb222"] and again["steps"] == 2
    button(at, "New seed").click().run()
    assert fake_api.submitted[2][1]["seed"] is None
    assert fake_api.submitted[2][0] == SKETCH


def test_api_error_is_a_readable_message(app, fake_api: FakeApi) -> None:
    fake_api.fail["submit_render"] = ApiError("queue_full", "the render queue is full (32 jobs waiting)", 429)
    at = ready_to_render(app())
    button(at, "Render").click().run()
    no_exceptions(at)
    (error,) = at.error
    assert "Could not start the render: the render queue is full (32 jobs waiting)" in error.value
    assert "try again in a moment" in error.value


def test_failed_render_says_why(app, fake_api: FakeApi) -> None:
    fake_api.final_status = "failed"
    at = ready_to_render(app())
    button(at, "Render").click().run()
    no_exceptions(at)
    assert "The render failed: the GPU ran out of memory" in at.error[0].value
    assert at.progress[0].text == "Failed at step 1 / 2"


def test_a_bug_in_a_page_is_a_sentence_not_a_traceback(app, fake_api: FakeApi) -> None:
    fake_api.fail["list_styles"] = RuntimeError("boom")
    at = app().run().switch_page("views/library.py").run()
    no_exceptions(at)
    assert "Something went wrong in the web UI (RuntimeError)" in at.error[0].value


def test_unreadable_sketch_is_refused_before_rendering(app) -> None:
    at = app().run()
    at.file_uploader(key="sketch_upload").set_value(("notes.png", b"just some text", "image/png")).run()
    at.text_input(key="prompt").input("a vase").run()
    no_exceptions(at)
    assert "This sketch cannot be used: the file looks like a text file" in at.error[0].value
    assert button(at, "Render").disabled


def test_unreachable_api_says_how_to_start_it(app, fake_api: FakeApi) -> None:
    fake_api.ready = ApiUnreachable("http://fake-api", "connection refused")
    at = app().run()
    no_exceptions(at)
    assert "not reachable" in at.error[0].value and "http://fake-api" in at.error[0].value
    how = " ".join(m.value for m in at.markdown)
    assert "sketch2render serve" in how and "make run" in how
    assert not [b for b in at.button if b.label == "Render"]  # the page itself is not shown


@pytest.mark.parametrize("smoke", [True, False])
def test_smoke_test_banner(app, fake_api: FakeApi, smoke: bool) -> None:
    fake_api.ready = {**fake_api.ready, "profile": "tiny" if smoke else "sd15", "smoke_test": smoke}
    at = app().run()
    assert ([w.value for w in at.warning] == [SMOKE_BANNER]) is smoke


def test_the_smoke_test_banner_says_what_is_missing_and_the_command(app, fake_api: FakeApi) -> None:
    warning = "No real weights found (none of the sd15 weights are in the cache). Run `sketch2render models download`."
    fake_api.ready = {**fake_api.ready, "profile": "tiny", "smoke_test": True, "warning": warning}
    (banner,) = app().run().warning
    assert banner.value.startswith(SMOKE_BANNER) and "sketch2render models download" in banner.value


def test_draw_mode_shows_the_canvas(app) -> None:
    at = app().run()
    at.radio(key="sketch_source").set_value("Draw").run()
    no_exceptions(at)
    assert "Draw with the mouse; the canvas toolbar undoes or clears." in [c.value for c in at.caption]
    assert button(at, "Render").disabled


# --- Style library and History --------------------------------------------------------------
def test_style_library_grid_add_and_delete_with_confirmation(app, fake_api: FakeApi) -> None:
    at = app().run().switch_page("views/library.py").run()
    no_exceptions(at)
    assert {"**The Starry Night**", "**Great Wave**", "**Water Lilies**"} <= {m.value for m in at.markdown}
    assert ":gray-badge[ink] :gray-badge[waves]" in [m.value for m in at.markdown]

    at.text_input(key="library_query").input("waves").run()
    assert fake_api.searches[-1][0] == "waves"
    at.text_input(key="library_query").input("").run()

    uploader = next(u for u in at.file_uploader if u.label == "Style image")
    uploader.set_value(("moon.png", png("gray"), "image/png"))
    next(t for t in at.text_input if t.label == "Title").input("Moonlight")
    next(t for t in at.text_input if t.label == "Tags").input("night, blue")
    next(t for t in at.text_input if t.label == "License").input("CC0")
    at.button(key="FormSubmitter:add_style-Add style").click().run()
    no_exceptions(at)
    assert fake_api.added == [
        {
            "filename": "moon.png",
            "title": "Moonlight",
            "tags": ["night", "blue"],
            "description": "",
            "license": "CC0",
            "source": "",
        }
    ]
    assert "Added **Moonlight**." in [s.value for s in at.success]

    at.button(key="delete_bbb222").click().run()
    assert any("Delete **Great Wave** from the library?" in w.value for w in at.warning)
    assert fake_api.deleted == []  # nothing until confirmed
    at.button(key="confirm_bbb222").click().run()
    assert fake_api.deleted == ["bbb222"]
    assert "Deleted **Great Wave**." in [s.value for s in at.success]


def test_history_lists_renders_and_opens_one(app, fake_api: FakeApi) -> None:
    fake_api.submit_render(SKETCH, {"prompt": "a vase in ink", "steps": 4, "seed": 99, "style_ids": ["ccc333"]})
    at = app().run().switch_page("views/history.py").run()
    no_exceptions(at)
    assert "**a vase in ink**" in [m.value for m in at.markdown]
    assert any("seed 99" in c.value and "style: Water Lilies" in c.value for c in at.caption)
    at.button(key="open_job1").click().run()
    no_exceptions(at)
    assert at.title[0].value == "a vase in ink"
    assert [b.label for b in at.download_button] == ["Download"]
    assert any("**Seed** `99`" in m.value for m in at.markdown)


def test_history_shows_the_sketch_and_renders_it_again(app, fake_api: FakeApi) -> None:
    fake_api.submit_render(SKETCH, {"prompt": "a vase in ink", "steps": 4, "seed": 99, "style_ids": ["ccc333"]})
    at = app().run().switch_page("views/history.py").run()
    at.button(key="open_job1").click().run()
    no_exceptions(at)
    assert "**Sketch**" in [m.value for m in at.markdown]  # the original sketch, from the API
    assert len(at.image) == 4  # sketch, edge map, style used, render
    button(at, "Render again (same seed)").click().run()
    no_exceptions(at)
    sketch, params, _ = fake_api.submitted[1]
    assert sketch == SKETCH and params["seed"] == 99
    assert params["prompt"] == "a vase in ink" and params["steps"] == 4 and params["style_ids"] == ["ccc333"]
    assert at.session_state["history_open"] == "job2"  # the new job, followed to its end
    assert fake_api.polls >= 6 and [p.text for p in at.progress] == ["Done: step 4 / 4"]
    assert any("**Seed** `99`" in m.value for m in at.markdown) and "**Sketch**" in [m.value for m in at.markdown]
    button(at, "New seed").click().run()
    no_exceptions(at)
    assert fake_api.submitted[2][1]["seed"] is None and fake_api.submitted[2][0] == SKETCH


def test_history_without_the_sketch_still_shows_the_render(app, fake_api: FakeApi) -> None:
    fake_api.submit_render(SKETCH, {"prompt": "a vase in ink", "steps": 4, "seed": 99})
    fake_api.fail["render_sketch"] = ApiError("not_found", "the sketch of render job1 is missing on disk", 404)
    at = app().run().switch_page("views/history.py").run()
    at.button(key="open_job1").click().run()
    no_exceptions(at)
    assert "**Sketch**" not in [m.value for m in at.markdown]
    assert [b.label for b in at.download_button] == ["Download"]
    assert "Render again (same seed)" not in [b.label for b in at.button]


# --- signing in, who am I, permissions -------------------------------------------------------
def team(fake_api: FakeApi, **kwargs) -> FakeApi:
    fake_api.keys = {
        "alice-key": principal("alice", "user", **kwargs),
        "root-key": principal("root", "admin"),
    }
    return fake_api


def sign_in(at, key: str):
    at.text_input(key="sign_in_key").input(key)
    return at.button(key="FormSubmitter:sign_in-Sign in").click().run()


def test_a_401_asks_for_a_key_and_the_page_loads_once_signed_in(app, fake_api: FakeApi) -> None:
    team(fake_api)
    at = app().run()
    no_exceptions(at)
    assert at.title[0].value == "Sign in"
    assert at.text_input(key="sign_in_key").proto.type == TextInputProto.PASSWORD
    assert not [b for b in at.button if b.label == "Render"]  # no page behind the box
    assert "**● Sign in needed**" in " ".join(m.value for m in at.sidebar.markdown)

    sign_in(at, "  alice-key ")
    no_exceptions(at)
    assert not [t for t in at.title if t.value == "Sign in"]
    assert button(at, "Render").disabled  # the Render page, waiting for a sketch
    assert fake_api.key == "alice-key" and at.session_state["s2r_api_key"] == "alice-key"
    assert ":material/person: **alice** · user" in [m.value for m in at.sidebar.markdown]

    at.text_input(key="prompt").input("a vase").run()  # every later call carries the key
    assert fake_api.searches == [("a vase", 3)] and set(fake_api.connected[-3:]) == {"alice-key"}

    at.button(key="sign_out").click().run()
    no_exceptions(at)
    assert at.title[0].value == "Sign in" and fake_api.key is None
    assert "s2r_api_key" not in at.session_state and "prompt" not in at.session_state


def test_a_wrong_key_is_refused_and_asked_for_again(app, fake_api: FakeApi) -> None:
    team(fake_api)
    at = sign_in(app().run(), "guess")
    no_exceptions(at)
    assert at.title[0].value == "Sign in"
    assert "That key was not accepted (mistyped, or revoked)" in at.error[0].value
    assert "s2r_api_key" not in at.session_state
    sign_in(at, "root-key")
    assert ":material/person: **root** · admin" in [m.value for m in at.sidebar.markdown]


def test_a_keyless_server_asks_for_nothing(app, fake_api: FakeApi) -> None:
    at = app().run()
    no_exceptions(at)
    assert not [t for t in at.title if t.value == "Sign in"]
    sidebar = " ".join(m.value for m in at.sidebar.markdown)
    assert "anonymous" not in sidebar and "Sign out" not in [b.label for b in at.sidebar.button]


def test_a_user_sees_no_remove_or_add_controls_and_is_told_why(app, fake_api: FakeApi) -> None:
    team(fake_api)
    at = sign_in(app().run(), "alice-key")
    at.switch_page("views/library.py").run()
    no_exceptions(at)
    assert "**Great Wave**" in [m.value for m in at.markdown]  # the library itself is readable
    assert not [b for b in at.button if b.label.startswith("Delete")]
    assert not [e for e in at.expander if e.label == "Add a style"]
    assert (
        ":material/lock: Your role (user) may browse and search the library; adding or removing styles needs an admin."
        in [c.value for c in at.caption]
    )


def test_a_user_allowed_to_add_styles_still_cannot_remove_them(app, fake_api: FakeApi) -> None:
    team(fake_api, users_can_add_styles=True)
    at = sign_in(app().run(), "alice-key").switch_page("views/library.py").run()
    no_exceptions(at)
    assert [e.label for e in at.expander] == ["Add a style"]
    assert not [b for b in at.button if b.label.startswith("Delete")]
    assert any("Your role (user) may add styles but not remove them" in c.value for c in at.caption)


def test_an_admin_sees_every_control_and_the_all_renders_toggle(app, fake_api: FakeApi) -> None:
    team(fake_api)
    for key in ("alice-key", "root-key"):
        fake_api.key = key
        fake_api.submit_render(SKETCH, {"prompt": f"{key} vase", "steps": 4, "seed": 99})
    at = sign_in(app().run(), "root-key").switch_page("views/library.py").run()
    no_exceptions(at)
    assert len([b for b in at.button if b.label == "Delete…"]) == 3 and not any(
        "Your role" in c.value for c in at.caption
    )
    at.switch_page("views/history.py").run()
    no_exceptions(at)
    assert [m.value for m in at.markdown if m.value.startswith("**")] == [
        "**root-key vase**"
    ]  # only the admin's own by default
    at.toggle(key="history_everyone").set_value(True).run()
    no_exceptions(at)
    assert fake_api.listed_everyone[-1] is True
    prompts = {m.value for m in at.markdown}
    assert {"**alice-key vase**", "**root-key vase**"} <= prompts
    assert any("by **alice**" in m.value for m in at.markdown)


def test_a_user_sees_only_their_renders_and_no_toggle(app, fake_api: FakeApi) -> None:
    team(fake_api)
    for key in ("alice-key", "root-key"):
        fake_api.key = key
        fake_api.submit_render(SKETCH, {"prompt": f"{key} vase", "steps": 4, "seed": 99})
    at = sign_in(app().run(), "alice-key").switch_page("views/history.py").run()
    no_exceptions(at)
    assert not at.toggle and fake_api.listed_everyone == [False]
    assert "**alice-key vase**" in [m.value for m in at.markdown]
    assert "**root-key vase**" not in [m.value for m in at.markdown]
    assert at.caption[0].value.startswith("Your renders, newest first")


def test_a_403_says_the_role_may_not_do_this(app, fake_api: FakeApi) -> None:
    team(fake_api)
    refusal = "'alice' has role user; this needs an admin key"
    fake_api.fail["submit_render"] = ApiError("forbidden", refusal, 403)
    at = sign_in(app().run(), "alice-key")
    ready_to_render(at)
    button(at, "Render").click().run()
    no_exceptions(at)
    (error,) = at.error
    assert error.value.startswith(f"Your role (user) may not do this: start the render ({refusal})")
    assert "Ask an admin" in error.value


def test_a_403_on_a_page_load_is_the_same_sentence(app, fake_api: FakeApi) -> None:
    team(fake_api)
    fake_api.fail["list_styles"] = ApiError("forbidden", "'alice' has role user; this needs an admin key", 403)
    at = sign_in(app().run(), "alice-key").switch_page("views/library.py").run()
    no_exceptions(at)
    assert at.error[0].value.startswith("Your role (user) may not do this: 'alice' has role user")


# --- the pieces under the pages -------------------------------------------------------------
def test_client_turns_answers_into_typed_results_and_readable_errors() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/readyz":
            return httpx.Response(503, json={"ready": False, "reasons": ["models loading"]})
        if request.url.path == "/v1/renders":
            return httpx.Response(202, json={"id": "f" * 32, "status": "queued", "url": "/v1/renders/x"})
        return httpx.Response(401, json={"error": {"code": "unauthorized", "message": "missing API key"}})

    client = ApiClient("http://api.test/", "secret", transport=httpx.MockTransport(answer))
    assert client.readiness()["reasons"] == ["models loading"]  # a 503 readiness body is an answer
    assert (
        client.submit_render(b"png", {"prompt": "p", "style_ids": ["a", "b"], "blend": True, "seed": None}) == "f" * 32
    )
    body = seen[-1].content
    assert b'name="style_ids"\r\n\r\na\r\n' in body and b'name="style_ids"\r\n\r\nb\r\n' in body
    assert b'name="blend"\r\n\r\ntrue' in body and b'name="seed"' not in body
    assert seen[-1].headers["authorization"] == "Bearer secret"
    with pytest.raises(ApiError) as info:
        client.list_styles()
    assert (info.value.code, info.value.message, info.value.status) == ("unauthorized", "missing API key", 401)
    assert _form_fields({"steps": 2, "blend": False, "seed": None, "style_ids": []}) == {
        "steps": "2",
        "blend": "false",
        "style_ids": [],
    }


def test_client_says_when_nothing_answers() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    client = ApiClient("http://127.0.0.1:9", transport=httpx.MockTransport(refuse))
    with pytest.raises(ApiUnreachable) as info:
        client.readiness()
    assert info.value.base_url == "http://127.0.0.1:9"


def test_canvas_pixels_become_a_png_on_white_with_edges() -> None:
    settings = Settings()
    rgba = np.zeros((120, 160, 4), dtype=np.uint8)  # transparent
    rgba[40:80, 30:130] = (17, 17, 17, 255)  # a dark bar drawn on it
    data = canvas_png(rgba)
    image = Image.open(io.BytesIO(data))
    assert image.mode == "RGB" and image.getpixel((0, 0)) == (255, 255, 255)
    preview = edge_preview(data, 256, settings)
    assert "Canny" in preview.caption and preview.control_png.startswith(b"\x89PNG")
    with pytest.raises(NoEdges):
        edge_preview(canvas_png(np.zeros((64, 64, 4), dtype=np.uint8)), 256, settings)


def test_the_ui_imports_no_model_library() -> None:
    code = (
        "import sys; import sketch2render.ui.client, sketch2render.ui.session, sketch2render.ui.widgets, "
        "sketch2render.ui.sketching; "
        "heavy = {'torch', 'diffusers', 'transformers', 'chromadb', 'langchain_chroma'} & set(sys.modules); "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


# --- edits and upscales ----------------------------------------------------------------------
def test_a_result_can_be_upscaled_and_the_page_follows_the_new_job(app, fake_api: FakeApi) -> None:
    at = ready_to_render(app())
    button(at, "Render").click().run()
    assert [p.text for p in at.progress] == ["Done: step 2 / 2"]
    assert button(at, "Re-render the painted area").disabled  # nothing painted, no prompt yet
    button(at, "Upscale ×2").click().run()
    no_exceptions(at)
    assert fake_api.derived == [("upscale", "job1", {"factor": 2})]
    assert len(fake_api.submitted) == 2 and at.session_state["render_job"]["id"] == "job2"


# --- the curated library: licences, attribution, private styles -------------------------------------
def test_a_render_shows_its_credits_to_copy_and_commercial_only_filters_the_styles(app, fake_api: FakeApi) -> None:
    fake_api.styles[1] = fake_api.styles[1].model_copy(
        update={"license_id": "CC-BY-NC-4.0", "license_class": "non-commercial", "commercial_use": False}
    )
    at = ready_to_render(app())
    at.toggle(key="adv_commercial_only").set_value(True).run()
    titles = {m.value for m in at.markdown}
    assert "**Great Wave**" not in titles and "**The Starry Night**" in titles  # non-commercial left out
    button(at, "Render").click().run()
    no_exceptions(at)
    assert fake_api.submitted[0][1]["commercial_only"] is True
    assert [c.value for c in at.code] == ["“The Starry Night” (CC0 1.0)"]  # st.code: its copy button copies it


def test_the_library_shows_licence_classes_and_adds_a_private_style(app, fake_api: FakeApi) -> None:
    at = app().run().switch_page("views/library.py").run()
    assert ":green-badge[CC0-1.0 · commercial]" in [m.value for m in at.markdown]
    uploader = next(u for u in at.file_uploader if u.label == "Style image")
    uploader.set_value(("moon.png", png("gray"), "image/png"))
    next(r for r in at.radio if r.label == "Visibility").set_value("private")
    at.button(key="FormSubmitter:add_style-Add style").click().run()
    no_exceptions(at)
    assert fake_api.added[0]["visibility"] == "private"


def test_collections_on_the_library_page_and_a_render_bound_to_one(app, fake_api: FakeApi) -> None:
    at = app().run().switch_page("views/library.py").run()
    next(t for t in at.text_input if t.label == "Name").input("Waves board")
    at.multiselect(key="new_collection_styles").set_value(["bbb222"])
    at.button(key="FormSubmitter:new_collection-Create collection").click().run()
    no_exceptions(at)
    assert fake_api.collections == {"Waves board": ["bbb222"]}
    at.selectbox(key="library_collection").set_value("Waves board").run()
    titles = {m.value for m in at.markdown}
    assert "**Great Wave**" in titles and "**The Starry Night**" not in titles  # only the collection's styles
    at.multiselect(key="collection_add").set_value(["ccc333"]).run()
    at.button(key="collection_add_button").click().run()
    assert fake_api.collections["Waves board"] == ["bbb222", "ccc333"]

    at = ready_to_render(app())
    at.selectbox(key="render_collection").set_value("Waves board").run()
    assert "**The Starry Night**" not in {m.value for m in at.markdown}  # the picker searches the collection
    button(at, "Render").click().run()
    no_exceptions(at)
    assert fake_api.submitted[0][1]["collection"] == "Waves board"


def test_the_history_search_box_finds_renders_by_words_of_their_prompt(app, fake_api: FakeApi) -> None:
    fake_api.submit_render(SKETCH, {"prompt": "a vase in ink", "steps": 4, "seed": 99})
    fake_api.submit_render(SKETCH, {"prompt": "a red house", "steps": 4, "seed": 98})
    at = app().run().switch_page("views/history.py").run()
    assert {"**a vase in ink**", "**a red house**"} <= {m.value for m in at.markdown}
    at.text_input(key="history_query").input("house").run()
    no_exceptions(at)
    titles = {m.value for m in at.markdown}
    assert "**a red house**" in titles and "**a vase in ink**" not in titles
    at.text_input(key="history_query").input("boat").run()
    assert any("No render's prompt has “boat”" in i.value for i in at.info)


def test_a_zip_is_imported_with_progress_and_a_per_file_report(app, fake_api: FakeApi) -> None:
    at = app().run().switch_page("views/library.py").run()
    uploader = next(u for u in at.file_uploader if u.label == "Zip of images")
    uploader.set_value(("refs.zip", b"PK\x05\x06" + bytes(18), "application/zip"))
    next(t for t in at.text_input if t.label == "Licence").input("CC0")
    at.button(key="FormSubmitter:import_styles-Import").click().run()
    no_exceptions(at)
    assert fake_api.imports == [("refs.zip", {"license": "CC0"})]
    assert fake_api.import_polls >= 3  # followed until it finished
    assert "Import finished: 1 added, 0 existed, 0 near duplicate, 1 refused" in [s.value for s in at.success]
    assert len(at.dataframe) == 1
