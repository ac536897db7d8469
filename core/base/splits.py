"""The names of the splits: a scenario's five data splits, and Table 1's accuracy decomposition.

Standard library only, so the CLI and the pages name them without loading torch.
"""

from __future__ import annotations

# a scenario's data (core.base.data.Scenario)
SPLIT_NAMES = ("source_train", "source_val", "target_pool", "target_val", "target_test")
# the rows of a run's accuracy table (the paper's Table 1): the pool cut by the selection, then
# target validation and test
ACCURACY_SPLITS = ("selected_train", "unselected_train", "val", "test")
