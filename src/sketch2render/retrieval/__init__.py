"""Finding styles by meaning: BM25, the dense list, rank fusion, and what is learned from
captions and users' corrections, over the style library (styles/)."""

from .build import build_search
from .search import HybridSearch

__all__ = ["HybridSearch", "build_search"]
