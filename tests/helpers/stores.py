"""What the shared test stores hold (the fixtures are in the conftest files)."""

DEBUG_METHODS = ("random", "badge", "forge")
DEBUG_BUDGETS = (0.1, 0.2)
DEBUG_SEEDS = (0, 1)
TEXT_PER_CLASS = 20  # tweets per class and domain: a 36-tweet pool, built in seconds
