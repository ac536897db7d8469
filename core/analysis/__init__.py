"""Layer 8: what is read back from the store: tables and reports, per-domain tables,
UMAP projections and the teaching toy."""
