"""The web UI's pages, run by `st.navigation` from `ui/app.py` (each file is a page script)."""
