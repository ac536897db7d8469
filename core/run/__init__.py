"""Layer 7: the one engine. Prepare a pool, run one (select, adapt, records), sweep a grid,
and the executors that run a grid (this process, local workers, Ray).

Asks the task (``core.tasks``) for whatever differs between task types."""
