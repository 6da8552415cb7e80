"""Planted pose-dependent box offsets shared by the PGPG tests (three pose families)."""
import numpy as np

from pgpg import fit_pgpg

FAMILIES = ("standing", "arms_up", "crouching")
MEANS = np.array([[-0.05, -0.03, 0.06, 0.04], [0.06, 0.04, -0.05, -0.02], [0.0, -0.06, 0.02, 0.08]])
STDS = np.array([[0.04, 0.03, 0.05, 0.03], [0.07, 0.05, 0.06, 0.04], [0.03, 0.06, 0.04, 0.05]])


def fit_planted(d, **kw):
    """fit_pgpg on a ``make_planted_people`` dict."""
    return fit_pgpg(d["gt_boxes"], d["keypoints"], d["image_ids"], d["det_boxes"], d["det_image_ids"],
                    d.get("det_scores"), **kw)


def atom_of_family(gen, d):
    """The atom each planted family fell into (each atom almost pure, one per family)."""
    labels = gen.atoms.assign(d["keypoints"])
    out = {}
    for f in range(len(FAMILIES)):
        counts = np.bincount(labels[(d["family"] == f) & (labels >= 0)], minlength=gen.atoms.num_atoms)
        assert counts.max() > 0.97 * counts.sum()  # the atom is (almost) pure
        out[f] = int(counts.argmax())
    assert len(set(out.values())) == len(FAMILIES)
    return out
