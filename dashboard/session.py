"""Session-state keys shared by the router and the pages (one place, no typos)."""

from __future__ import annotations

SCENARIO = "fl_scenario"
METHODS = "fl_methods"
SEEDS = "fl_seeds"
SELECTION = "fl_run_selection"
WATCHED_JOBS = "fl_watched_jobs"
LAUNCH_ERROR = "fl_launch_error"
TEACH_K = "fl_teach_k"
TEACH_SEED = "fl_teach_seed"
WATCHED_JOBS_RUNNING = "fl_jobs_running"
ADAPTATION = "fl_adaptation"
SETTING = "fl_setting"
