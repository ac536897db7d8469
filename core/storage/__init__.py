"""Layer 2: atomic writes, integrity (checksums, quarantine) and the run store.

Imports only ``core.base``."""
