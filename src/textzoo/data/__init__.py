"""Corpora, readers for public layouts, the named-dataset registry, TextGCN's cleaning."""
