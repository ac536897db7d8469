"""Layer 5: what a run records: per-pair gaps and per-space summaries, Theorem 4's
terms, and the pool previews that pages show.

Imports the layers below (base, storage, nn, scenarios, selection)."""
