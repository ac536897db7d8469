"""Layer 9, the top: ``python -m core`` (argument parsing and the commands)."""
