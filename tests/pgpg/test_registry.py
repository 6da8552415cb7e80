"""Proposal generator registry: names, building from settings, model files and config sections."""
import pytest

from pgpg import (
    JitterProposals,
    PGPGError,
    PGPGProposals,
    available_proposal_generators,
    build_proposal_generator,
    load_proposal_generator,
    proposals_from_config,
    save_proposal_generator,
)


def test_registry_and_config(tmp_path, fitted):
    assert available_proposal_generators() == ["gt", "jitter", "pgpg"]
    path = tmp_path / "p.npz"
    save_proposal_generator(fitted, path)
    g = build_proposal_generator("pgpg", str(path), probability=0.7)
    assert isinstance(g, PGPGProposals) and g.settings.probability == 0.7 and g.settings.subpatch_probability == 0.0
    g = proposals_from_config({"type": "pgpg", "model": str(path), "probability": 0.5})
    assert g.settings.probability == 0.5

    class Section:  # like rmpe's train.proposals dataclass
        type, model, probability = "jitter", None, 1.0

    assert isinstance(proposals_from_config(Section()), JitterProposals)
    with pytest.raises(PGPGError, match="unknown proposal type 'box'; choose one of gt, jitter, pgpg"):
        build_proposal_generator("box")
    with pytest.raises(PGPGError, match="needs a model file"):
        build_proposal_generator("pgpg")
    with pytest.raises(PGPGError, match="probability must lie in"):
        build_proposal_generator("jitter", probability=1.5)
    save_proposal_generator(build_proposal_generator("jitter"), tmp_path / "j.json")
    with pytest.raises(PGPGError, match="holds a 'jitter' generator"):
        build_proposal_generator("pgpg", str(tmp_path / "j.json"))
    assert isinstance(load_proposal_generator(tmp_path / "j.json"), JitterProposals)


def test_register_custom_generator():
    import numpy as np

    from pgpg import GroundTruthProposals, register_proposal_generator
    from pgpg import registry as registry_module

    class Shifted(GroundTruthProposals):
        kind = "test_shifted"

        def sample_batch(self, gt_boxes, keypoints, n, rng=None):
            return super().sample_batch(gt_boxes, keypoints, n, rng) + 1.0

    register_proposal_generator(Shifted)
    try:
        assert "test_shifted" in available_proposal_generators()
        gen = build_proposal_generator("test_shifted")
        np.testing.assert_array_equal(gen.sample([0, 0, 4, 4], None, 1), [[1, 1, 5, 5]])
        with pytest.raises(ValueError, match="already registered"):
            register_proposal_generator(Shifted)
    finally:
        registry_module._REGISTRY.pop("test_shifted", None)
