"""Style library page: the styles as a grid (thumbnail, title, tags, license), search by meaning
and words, add a style (image + metadata), delete one after a confirmation. Adding and deleting are
shown only to a caller whose role may do them (`/v1/me`), with a line saying why otherwise."""

from __future__ import annotations

import time

import streamlit as st

from sketch2render.schemas import StyleRecord
from sketch2render.ui import session
from sketch2render.ui.client import ApiClient, ApiError, CollectionInfo, Me
from sketch2render.ui.widgets import fmt_score, guarded, short, show_error, style_thumbnail, tag_badges

COLUMNS = 5
CONFIRM_KEY = "library_confirm_delete"  # id of the style awaiting "Delete?" confirmation
NOTICE_KEY = "library_notice"  # a success message carried over a rerun


def delete_controls(client: ApiClient, record: StyleRecord) -> None:
    title = record.title or record.id
    if st.session_state.get(CONFIRM_KEY) != record.id:
        if st.button("Delete…", key=f"delete_{record.id}", icon=":material/delete:", type="tertiary"):
            st.session_state[CONFIRM_KEY] = record.id
            st.rerun()
        return
    st.warning(f"Delete **{title}** from the library? Past renders keep their images.")
    yes, no = st.columns(2)
    if yes.button("Delete", key=f"confirm_{record.id}", type="primary", width="stretch"):
        st.session_state.pop(CONFIRM_KEY, None)
        try:
            client.delete_style(record.id)
        except ApiError as exc:
            show_error(exc, f"delete {title}")
            return
        st.session_state[NOTICE_KEY] = f"Deleted **{title}**."
        st.rerun()
    if no.button("Cancel", key=f"cancel_{record.id}", width="stretch"):
        st.session_state.pop(CONFIRM_KEY, None)
        st.rerun()


def permission_note(me: Me | None) -> str | None:
    """One line on what this caller's role may not do here, or None when it may do everything."""
    if me is None or me.can_remove_styles:
        return None
    if me.can_add_styles:
        return f"Your role ({me.role}) may add styles but not remove them; an admin can."
    return f"Your role ({me.role}) may browse and search the library; adding or removing styles needs an admin."


def style_card(client: ApiClient, record: StyleRecord, score: str | None = None, *, can_remove: bool = True) -> None:
    with st.container(border=True):
        style_thumbnail(client, record.id)
        title = record.title or record.id
        st.markdown(f"**{short(title, 60)}**")
        if record.tags:
            st.markdown(tag_badges(record.tags))
        credit = ", ".join(part for part in (record.creator, record.year) if part)
        st.markdown(licence_badge(record))
        st.caption((f"{credit}  \n" if credit else "") + short(record.license or "license not given", 60))
        if score:
            st.caption(score)
        if can_remove:
            delete_controls(client, record)


LICENCE_COLOURS = {"commercial": "green", "commercial-credit": "green", "non-commercial": "orange"}


def licence_badge(record: StyleRecord) -> str:
    """The licence id and class as a badge (green: usable commercially), and a lock when private."""
    colour = LICENCE_COLOURS.get(record.license_class, "gray")
    private = " :violet-badge[:material/lock: private]" if record.visibility == "private" else ""
    return f":{colour}-badge[{record.license_id} · {record.license_class}]{private}"


def add_style_form(client: ApiClient, expanded: bool) -> None:
    with st.expander("Add a style", icon=":material/add_photo_alternate:", expanded=expanded):
        with st.form("add_style", clear_on_submit=True, border=False):
            image_col, meta_col = st.columns([1, 2], gap="medium")
            image = image_col.file_uploader(
                "Style image", type=["png", "jpg", "jpeg", "webp"], max_upload_size=session.max_upload_mb()
            )
            title = meta_col.text_input("Title", max_chars=300)
            tags = meta_col.text_input("Tags", placeholder="comma-separated: ink, japanese, waves")
            description = st.text_area("Description", max_chars=4000, height=80)
            license_col, source_col = st.columns(2)
            license_text = license_col.text_input("License", placeholder="e.g. CC0, public domain", max_chars=1000)
            source = source_col.text_input("Source", placeholder="where the image comes from", max_chars=1000)
            creator_col, visibility_col = st.columns(2)
            creator = creator_col.text_input("Creator", placeholder="who made it (named in credits)", max_chars=300)
            visibility = visibility_col.radio(
                "Visibility", ["team", "private"], horizontal=True, help="private: only you see and use it"
            )
            submitted = st.form_submit_button("Add style", type="primary", icon=":material/add:")
    if not submitted:
        return
    if image is None:
        st.error("Choose an image for the style first.")
        return
    try:
        record, created = client.add_style(
            image.getvalue(),
            image.name,
            title=title.strip(),
            tags=[t.strip() for t in tags.split(",") if t.strip()],
            description=description.strip(),
            license=license_text.strip(),
            source=source.strip(),
            **({"creator": creator.strip()} if creator.strip() else {}),
            **({"visibility": visibility} if visibility != "team" else {}),
        )
    except ApiError as exc:
        show_error(exc, "add the style")
        return
    name = record.title or record.id
    st.session_state[NOTICE_KEY] = (
        f"Added **{name}**." if created else f"That image is already in the library as **{name}**."
    )
    st.rerun()


ALL_STYLES = "All styles"
IMPORT_WAIT_S = 600.0  # how long the page follows an import before it says to look again


def import_form(client: ApiClient) -> None:
    """A zip of images imported as a job: a progress bar while it runs, then the per-file report."""
    with st.popover("Import a zip", icon=":material/folder_zip:"):
        with st.form("import_styles", clear_on_submit=True, border=False):
            archive = st.file_uploader("Zip of images", type=["zip"], key="import_archive")
            licence = st.text_input("Licence", placeholder="for files without one, e.g. CC0", max_chars=1000)
            start = st.form_submit_button("Import", icon=":material/upload:")
    if not start or archive is None:
        return
    try:
        job = client.import_styles(archive.getvalue(), archive.name, license=licence.strip())
    except ApiError as exc:
        show_error(exc, "import the zip")
        return
    bar = st.progress(0.0, text=f"Importing 0 / {job['total']}")
    report = client.import_report(job["id"])
    deadline = time.monotonic() + IMPORT_WAIT_S
    while report["status"] == "running" and time.monotonic() < deadline:
        bar.progress(report["done"] / max(1, report["total"]), text=f"Importing {report['done']} / {report['total']}")
        time.sleep(0.3)
        report = client.import_report(job["id"])
    bar.progress(1.0 if report["status"] != "running" else report["done"] / max(1, report["total"]))
    counts = ", ".join(f"{report[k]} {k.replace('_', ' ')}" for k in ("added", "existed", "near_duplicate", "refused"))
    (st.error if report["status"] == "failed" else st.success)(f"Import {report['status']}: {counts}")
    st.dataframe(report["files"], hide_index=True)


def collections_panel(client: ApiClient, records: list[StyleRecord]) -> CollectionInfo | None:
    """Pick a collection to look at (None: the whole library), make a new one, add styles to the one picked."""
    try:
        known = client.list_collections()
    except ApiError as exc:
        show_error(exc, "list the collections")
        return None
    counts = {c.name: c.count for c in known}
    name = st.selectbox(
        "Collection", [ALL_STYLES, *counts], key="library_collection",
        format_func=lambda n: n if n == ALL_STYLES else f"{n} ({counts[n]})",
        help="Collections (moodboards): a render or a search bound to one retrieves only from it.",
    )  # fmt: skip
    titles = {r.id: r.title or r.id for r in records}
    with st.popover("New collection", icon=":material/collections_bookmark:"):
        with st.form("new_collection", clear_on_submit=True, border=False):
            new_name = st.text_input("Name", max_chars=64, placeholder="e.g. Client X moodboard")
            visibility = st.radio("Visibility", ["team", "private"], horizontal=True, key="new_collection_visibility")
            chosen = st.multiselect("Styles", list(titles), format_func=titles.get, key="new_collection_styles")
            create = st.form_submit_button("Create collection", icon=":material/add:")
    if create:
        try:
            client.create_collection(new_name.strip(), visibility=visibility, style_ids=chosen)
        except ApiError as exc:
            show_error(exc, "create the collection")
            return None
        st.session_state[NOTICE_KEY] = f"Created collection **{new_name.strip()}**."
        st.rerun()
    if name == ALL_STYLES:
        return None
    found = client.get_collection(name)
    inside = {r.id for r in found.styles}
    outside = [i for i in titles if i not in inside]
    if outside:
        add_col, button_col = st.columns([3, 1], vertical_alignment="bottom")
        more = add_col.multiselect(f"Add styles to {name}", outside, format_func=titles.get, key="collection_add")
        if button_col.button("Add", key="collection_add_button", disabled=not more):
            try:
                client.add_to_collection(name, more)
            except ApiError as exc:
                show_error(exc, f"add to {name}")
                return found
            st.session_state[NOTICE_KEY] = f"Added {len(more)} style(s) to **{name}**."
            st.rerun()
    return found


@guarded
def page() -> None:
    client = session.get_client()
    me = session.me()  # None: the API did not say (the API refuses what the role may not do anyway)
    can_add = me is None or me.can_add_styles
    can_remove = me is None or me.can_remove_styles
    st.title("Style library")
    st.caption("Reference images a render borrows its look from, found by meaning (CLIP) and by words (BM25).")
    if notice := st.session_state.pop(NOTICE_KEY, None):
        st.success(notice, icon=":material/check_circle:")
    records, total = client.list_styles()
    search_col, count_col = st.columns([2, 3], vertical_alignment="bottom")
    query = (search_col.text_input(
        "Search styles", key="library_query", live="400ms", icon=":material/search:",
        placeholder="e.g. misty mountains, ink",
    ) or "").strip()  # fmt: skip
    if note := permission_note(me):
        st.caption(f":material/lock: {note}")
    if can_add:
        add_style_form(client, expanded=total == 0)
        import_form(client)
    collection = collections_panel(client, records)
    if collection is not None and not query:
        records, total = list(collection.styles), len(collection.styles)
    if query:
        bound = collection.name if collection is not None else None
        hits = client.search_styles(query, k=min(max(total, 1), 24), collection=bound)
        count_col.caption(f"{len(hits)} best matches for “{query}”")
        cards = [
            (h.style, f"match {fmt_score(h.score)} · CLIP {fmt_score(h.cosine)} · BM25 {h.lexical:.2f}") for h in hits
        ]
    else:
        count_col.caption(f"{total} style{'s' if total != 1 else ''}")
        cards = [(r, None) for r in records]
    if not cards:
        how = "add one above, or run" if can_add else "an admin can add some, or run"
        st.info(f"No styles yet: {how} `sketch2render styles import-defaults`.")
        return
    for start in range(0, len(cards), COLUMNS):
        for col, (record, score) in zip(st.columns(COLUMNS), cards[start : start + COLUMNS], strict=False):
            with col:
                style_card(client, record, score, can_remove=can_remove)


page()
