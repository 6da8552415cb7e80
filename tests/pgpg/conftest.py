"""Fixtures of the PGPG tests: planted people and a generator fitted on them."""
import pytest

from pgpg import SamplingSettings
from pgpg.synthetic import make_planted_people

from .planted import FAMILIES, MEANS, STDS, fit_planted


@pytest.fixture(scope="module")
def planted():
    return make_planted_people(500, MEANS, STDS, families=FAMILIES, seed=11, detection_rate=0.9)


@pytest.fixture(scope="module")
def fitted(planted):
    return fit_planted(planted, k=3, n_components=2, seed=0, settings=SamplingSettings(subpatch_probability=0.0))
