"""The Streamlit web UI: a pure HTTP client of the API (`client.py`), never a model loader.

`app.py` is the entry point (`streamlit run ui/app.py -- --api-url URL`); the pages live in
`views/` and the widgets they share in `widgets.py`.
"""
