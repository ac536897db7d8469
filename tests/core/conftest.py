"""Fixtures shared by the engine tests: the debug scenario and its source model, built once."""

import pytest
import torch

from core.base.hparams import hparams_for
from core.nn.source_model import get_source_model
from core.scenarios import load_scenario


@pytest.fixture(scope="session")
def debug():
    return load_scenario("debug")


@pytest.fixture(scope="session")
def trained(debug, tmp_path_factory):
    """(model, info, cache folder): the debug source model, trained once for the session."""
    cache = tmp_path_factory.mktemp("models")
    model, info = get_source_model(
        debug, hparams_for("debug"), cache_dir=cache, device=torch.device("cpu")
    )
    return model, info, cache


@pytest.fixture(scope="session")
def source(trained):
    return trained[0]
