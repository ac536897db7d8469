"""The names of the pool's embedding spaces, the one list (standard library only).

Selectors work in them and records measure distances in them, in this display order;
``core.selection.embeddings`` builds them, and pages list them without loading torch.
"""

SPACES = ("coreset", "badge", "forge")
