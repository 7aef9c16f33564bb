"""Evaluating renders and retrieval: parameter grids, HTML/SVG reports, retrieval metrics."""
