"""Layer 1, the ground: validation, registries, parameter constraints, device, paths,
progress, hyper-parameters, statistics and the data containers (Scenario, Split).

Imports nothing else of core. Light: only ``device`` touches torch, and only when called."""
