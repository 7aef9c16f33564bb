"""The style library: style images and their records (blob stores), their CLIP vectors in
ChromaDB, the bundled defaults. `CLIPEmbeddings` is the LangChain `Embeddings` that puts prompts
and images in one space. Searching it is `retrieval/`."""

from .build import build_chroma_client, build_embeddings, build_library
from .defaults import default_styles_dir, import_defaults, load_manifest
from .embeddings import CLIPEmbeddings, ImageTextEmbeddings
from .library import StyleLibrary

__all__ = [
    "CLIPEmbeddings",
    "ImageTextEmbeddings",
    "StyleLibrary",
    "build_chroma_client",
    "build_embeddings",
    "build_library",
    "default_styles_dir",
    "import_defaults",
    "load_manifest",
]
