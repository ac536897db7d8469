"""Layer 3: networks and their training: backbones, models, optimizers, feature caches,
source models and adaptation.

Imports ``core.base`` and ``core.storage``."""
