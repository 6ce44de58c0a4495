"""Text graphs as scipy sparse matrices (TextGCN's TF-IDF doc-word and PMI word-word blocks, ...)."""

from .textgcn import (
    TextGCNGraph,
    adjacency,
    build_textgcn_graph,
    normalize_adjacency,
    tfidf_rows,
    tokenize_documents,
)

__all__ = [
    "TextGCNGraph",
    "adjacency",
    "build_textgcn_graph",
    "normalize_adjacency",
    "tfidf_rows",
    "tokenize_documents",
]
