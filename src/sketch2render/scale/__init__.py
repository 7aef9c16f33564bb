"""Scale-out: render workers on Ray Serve (`ray_backend`), the style library on a Chroma server
(`chroma_server`). Imported only when `S2R_BACKEND=ray` or by `sketch2render chroma-server`."""
