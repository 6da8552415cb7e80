"""Generator files: same samples after save/load (.npz and .json), picklable, bad files rejected."""
import pickle

import numpy as np
import pytest

from pgpg import PGPGError, build_proposal_generator, load_proposal_generator, save_proposal_generator
from rmpe.cli.pgpg import format_summary


def test_same_seed_same_samples_and_save_load_round_trip(fitted, planted, tmp_path):
    gt, kp = planted["gt_boxes"][0], planted["keypoints"][0]
    a = fitted.sample(gt, kp, 50, np.random.default_rng(5))
    np.testing.assert_array_equal(a, fitted.sample(gt, kp, 50, np.random.default_rng(5)))
    assert not np.array_equal(a, fitted.sample(gt, kp, 50, np.random.default_rng(6)))
    for name in ("m.npz", "m.json"):
        path = tmp_path / "sub" / name
        save_proposal_generator(fitted, path)
        loaded = load_proposal_generator(path)
        np.testing.assert_array_equal(loaded.sample(gt, kp, 50, np.random.default_rng(5)), a)
        np.testing.assert_array_equal(loaded.atoms.centres, fitted.atoms.centres)
        np.testing.assert_array_equal(loaded.offsets.covariances, fitted.offsets.covariances)
        assert format_summary(loaded) == format_summary(fitted)
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == ["m.json", "m.npz"]  # no temp files left
    with np.load(tmp_path / "sub" / "m.npz", allow_pickle=False) as z:
        assert all(z[k].dtype != object for k in z.files)
    # picklable for DataLoader workers
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(fitted)).sample(gt, kp, 50, np.random.default_rng(5)), a)


def test_bad_model_files(tmp_path):
    with pytest.raises(PGPGError, match="not found"):
        load_proposal_generator(tmp_path / "none.npz")
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(PGPGError, match="not a readable .npz"):
        load_proposal_generator(tmp_path / "bad.npz")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(PGPGError, match="not valid JSON"):
        load_proposal_generator(tmp_path / "bad.json")
    (tmp_path / "other.json").write_text('{"format": "something"}')
    with pytest.raises(PGPGError, match="not a PGPG model file"):
        load_proposal_generator(tmp_path / "other.json")
    np.savez(tmp_path / "part.npz", format="rmpe-pgpg", version=1, mode="pgpg", probability=1.0)
    with pytest.raises(PGPGError, match="lacks the entry"):
        load_proposal_generator(tmp_path / "part.npz")
    with pytest.raises(PGPGError, match="must end in .npz or .json"):
        save_proposal_generator(build_proposal_generator("jitter"), tmp_path / "x.bin")


def test_failed_save_leaves_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "m.npz"
    save_proposal_generator(build_proposal_generator("jitter", probability=0.5), path)
    before = path.read_bytes()

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", broken)
    with pytest.raises(OSError, match="disk full"):
        save_proposal_generator(build_proposal_generator("jitter"), path)
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["m.npz"]
    assert load_proposal_generator(path).settings.probability == 0.5
