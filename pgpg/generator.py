"""Proposal generation for SPPE training: ground truth, AlphaPose's jitter, or fitted PGPG.

A :class:`ProposalGenerator` turns a person's ground-truth box (and pose) into boxes that
look like a detector's output, so the SPPE trains on the same kind of imperfect boxes it
sees at test time (RMPE's pose-guided proposals generator).

Modes:

* ``gt``: the ground-truth box itself (no randomness).
* ``jitter``: AlphaPose's stand-in: one global Gaussian per side, x1 ~ N(-0.0142, 0.1158) w,
  y1 ~ N(0.0043, 0.068) h, x2 ~ N(0.0154, 0.1337) w, y2 ~ N(-0.0013, 0.0711) h, plus random
  sub-patches with probability 0.15.
* ``pgpg``: the person's pose is assigned to its atomic pose (:class:`AtomicPoses`) and
  the side offsets are drawn from that atom's Gaussian mixture (:class:`OffsetModel`),
  plus random sub-patches with probability ``subpatch_probability``.

One proposal is made like this, in this order (both random modes):

1. offsets o ~ mixture of the atom (``jitter``: the one Gaussian); box = gt + o * (w, h, w, h).
2. Minimum size: a side shorter than ``min_side`` x the GT side (or inverted) is re-centred
   on its midpoint at exactly that length.
3. Random sub-patch, with probability ``subpatch_probability``: the box is replaced by an
   axis-aligned box inside the GT box whose width and height are independent uniform
   fractions in [``subpatch_min_side``, 1] (default 0.5, so at least a quarter of the GT
   area) of the GT width and height, placed uniformly at random inside the GT box.
4. With probability 1 - ``probability`` the GT box is used instead.

Random numbers come only from the ``numpy.random.Generator`` passed in, a fixed number per
proposal, so a seeded generator gives the same proposals every time (also after
:meth:`ProposalGenerator.save` / :meth:`ProposalGenerator.load`). In DataLoader workers,
give each worker its own generator (e.g. seeded from ``torch.initial_seed()``).
"""
from __future__ import annotations

import json
import os
import tempfile
import zipfile
from collections.abc import Mapping
from typing import Any, Callable, Dict, List, Optional, Sequence, Union

import numpy as np

from .atomic_poses import AtomicPoses
from .errors import PGPGError
from .matching import apply_offsets, box_offsets, check_boxes, match_boxes
from .normalize import COCO_HIPS, COCO_SHOULDERS, check_keypoints
from .offsets import OffsetModel

#: AlphaPose's global offset Gaussian (x1, y1, x2, y2), in units of the GT width / height.
ALPHAPOSE_OFFSET_MEAN = (-0.0142, 0.0043, 0.0154, -0.0013)
ALPHAPOSE_OFFSET_STD = (0.1158, 0.068, 0.1337, 0.0711)
ALPHAPOSE_SUBPATCH_PROBABILITY = 0.15

MODES = ("gt", "jitter", "pgpg")
FORMAT_NAME = "rmpe-pgpg"
FORMAT_VERSION = 1

RandomLike = Union[np.random.Generator, int, None]


def _as_rng(rng: RandomLike) -> np.random.Generator:
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def random_subpatches(gt: np.ndarray, rng: np.random.Generator, min_side: float = 0.5) -> np.ndarray:
    """Random boxes inside the given boxes (step 3 of the module docstring).

    Consumes ``rng.random((M, 4))``: width fraction, height fraction, x position, y position.

    Args:
        gt: (M, 4) xyxy boxes in pixels.
        rng: numpy Generator.
        min_side: smallest width / height fraction, in (0, 1].

    Returns:
        (M, 4) float64 xyxy boxes inside ``gt``.
    """
    gt = np.asarray(gt, dtype=np.float64)
    u = rng.random((gt.shape[0], 4))
    w, h = gt[:, 2] - gt[:, 0], gt[:, 3] - gt[:, 1]
    fw = min_side + (1.0 - min_side) * u[:, 0]
    fh = min_side + (1.0 - min_side) * u[:, 1]
    x1 = gt[:, 0] + u[:, 2] * (1.0 - fw) * w
    y1 = gt[:, 1] + u[:, 3] * (1.0 - fh) * h
    return np.stack([x1, y1, x1 + fw * w, y1 + fh * h], 1)


def enforce_min_size(boxes: np.ndarray, gt: np.ndarray, min_side: float) -> np.ndarray:
    """Widen sides shorter than ``min_side`` x the GT side (or inverted) around their midpoint.

    Args:
        boxes: (M, 4) xyxy proposals.
        gt: (M, 4) their GT boxes.
        min_side: fraction of the GT width / height, >= 0.

    Returns:
        (M, 4) xyxy boxes.
    """
    out = boxes.copy()
    for lo, hi in ((0, 2), (1, 3)):
        need = min_side * (gt[:, hi] - gt[:, lo])
        short = (out[:, hi] - out[:, lo]) < need
        mid = 0.5 * (out[:, hi] + out[:, lo])
        out[:, lo] = np.where(short, mid - 0.5 * need, out[:, lo])
        out[:, hi] = np.where(short, mid + 0.5 * need, out[:, hi])
    return out


class ProposalGenerator:
    """Makes training proposals from a person's GT box and pose (module docstring).

    Args:
        mode: ``"gt"``, ``"jitter"`` or ``"pgpg"``.
        offsets: the offset model (``jitter``: one global Gaussian; ``pgpg``: fitted).
        atoms: the atomic poses (``pgpg`` only).
        probability: chance that a proposal is generated rather than the GT box, in [0, 1].
        subpatch_probability: chance that a generated proposal is a random sub-patch.
        subpatch_min_side: smallest sub-patch side as a fraction of the GT side, in (0, 1].
        min_side: smallest proposal side as a fraction of the GT side, in [0, 1).
    """

    def __init__(
        self,
        *,
        mode: str = "pgpg",
        offsets: Optional[OffsetModel] = None,
        atoms: Optional[AtomicPoses] = None,
        probability: float = 1.0,
        subpatch_probability: float = ALPHAPOSE_SUBPATCH_PROBABILITY,
        subpatch_min_side: float = 0.5,
        min_side: float = 0.05,
    ) -> None:
        if mode not in MODES:
            raise PGPGError(f"unknown proposal mode {mode!r}; choose one of {', '.join(MODES)}")
        if mode != "gt" and offsets is None:
            raise PGPGError(f"proposal mode {mode!r} needs an offset model")
        if mode == "pgpg":
            if atoms is None:
                raise PGPGError("proposal mode 'pgpg' needs atomic poses; fit a model with `rmpe-pgpg fit`")
            if atoms.num_atoms != offsets.num_atoms:
                raise PGPGError(
                    f"the PGPG model has {atoms.num_atoms} atomic poses but {offsets.num_atoms} offset mixtures"
                )
        for name, value, lo, hi, lo_open in (
            ("probability", probability, 0.0, 1.0, False),
            ("subpatch_probability", subpatch_probability, 0.0, 1.0, False),
            ("subpatch_min_side", subpatch_min_side, 0.0, 1.0, True),
            ("min_side", min_side, 0.0, 1.0, False),
        ):
            value = float(value)
            if not (lo < value <= hi if lo_open else lo <= value <= hi):
                bracket = "(" if lo_open else "["
                raise PGPGError(f"proposal {name} must lie in {bracket}{lo}, {hi}], got {value}")
        self.mode = mode
        self.offsets = offsets if mode != "gt" else None
        self.atoms = atoms if mode == "pgpg" else None
        self.probability = float(probability)
        self.subpatch_probability = float(subpatch_probability)
        self.subpatch_min_side = float(subpatch_min_side)
        self.min_side = float(min_side)
        #: matching statistics of :meth:`fit` (empty for a loaded or hand-built generator)
        self.fit_info: Dict[str, int] = {}

    def __repr__(self) -> str:
        atoms = f", atoms={self.atoms.num_atoms}" if self.atoms is not None else ""
        return (
            f"ProposalGenerator(mode={self.mode!r}{atoms}, probability={self.probability}, "
            f"subpatch_probability={self.subpatch_probability})"
        )

    # ---------------------------------------------------------------- constructors
    @classmethod
    def ground_truth(cls) -> "ProposalGenerator":
        """The ``gt`` mode: proposals are the GT box."""
        return cls(mode="gt")

    @classmethod
    def alphapose_jitter(
        cls,
        *,
        mean: Sequence[float] = ALPHAPOSE_OFFSET_MEAN,
        std: Sequence[float] = ALPHAPOSE_OFFSET_STD,
        probability: float = 1.0,
        subpatch_probability: float = ALPHAPOSE_SUBPATCH_PROBABILITY,
        subpatch_min_side: float = 0.5,
        min_side: float = 0.05,
    ) -> "ProposalGenerator":
        """The ``jitter`` baseline: one global Gaussian per box side (AlphaPose's constants)."""
        return cls(
            mode="jitter",
            offsets=OffsetModel.single_gaussian(mean, std),
            probability=probability,
            subpatch_probability=subpatch_probability,
            subpatch_min_side=subpatch_min_side,
            min_side=min_side,
        )

    @classmethod
    def fit(
        cls,
        gt_boxes: np.ndarray,
        keypoints: np.ndarray,
        gt_image_ids: np.ndarray,
        det_boxes: np.ndarray,
        det_image_ids: np.ndarray,
        det_scores: Optional[np.ndarray] = None,
        *,
        k: int = 8,
        n_components: int = 2,
        iou_threshold: float = 0.5,
        min_score: float = 0.0,
        min_samples: int = 30,
        reg_covar: float = 1e-5,
        seed: int = 0,
        n_init: int = 4,
        shoulders: Sequence[int] = COCO_SHOULDERS,
        hips: Sequence[int] = COCO_HIPS,
        visibility_threshold: float = 0.0,
        min_keypoints: int = 3,
        probability: float = 1.0,
        subpatch_probability: float = ALPHAPOSE_SUBPATCH_PROBABILITY,
        subpatch_min_side: float = 0.5,
        min_side: float = 0.05,
    ) -> "ProposalGenerator":
        """Fit PGPG from ground-truth people and a detector's boxes on the same images.

        1. Atomic poses: k-means++ on the normalised GT poses (:meth:`AtomicPoses.fit`).
        2. Per image, detections with score >= ``min_score`` are matched one to one to the GT
           boxes (IoU >= ``iou_threshold``, highest IoU first); GT boxes without positive
           width and height take no part.
        3. Offsets of the matches -> one mixture per atom plus a global one
           (:meth:`OffsetModel.fit`).

        Args:
            gt_boxes: (N, 4) GT person boxes, xyxy pixels (all non-crowd people, including
                those without keypoints, so that their detections are not matched elsewhere).
            keypoints: (N, K, 3) GT (x, y, v) in pixels; all v = 0 for people without keypoints.
            gt_image_ids: (N,) image of each GT person.
            det_boxes: (M, 4) detections, xyxy pixels.
            det_image_ids: (M,) image of each detection.
            det_scores: (M,) detection scores, or None (all kept).
            k: number of atomic poses.
            n_components: components per offset mixture at most.
            iou_threshold, min_score: matching settings.
            min_samples: atoms with fewer matched detections use the global mixture.
            reg_covar: covariance regularisation.
            seed: seeds k-means and EM.
            n_init: k-means seedings.
            shoulders, hips, visibility_threshold, min_keypoints: pose normalisation.
            probability, subpatch_probability, subpatch_min_side, min_side: sampling settings
                stored in the model.

        Returns:
            A ``pgpg`` generator; ``fit_info`` holds the matching statistics.

        Raises:
            PGPGError: bad shapes, no usable pose, no or too few matches.
        """
        gt = check_boxes(gt_boxes, "ground-truth boxes") if len(np.asarray(gt_boxes)) else np.zeros((0, 4))
        kp = check_keypoints(keypoints, "ground-truth keypoints")
        gt_ids = np.asarray(gt_image_ids).reshape(-1)
        dets = check_boxes(det_boxes, "detections") if len(np.asarray(det_boxes)) else np.zeros((0, 4))
        det_ids = np.asarray(det_image_ids).reshape(-1)
        if not (len(gt) == len(kp) == len(gt_ids)):
            raise PGPGError(
                f"ground truth must pair up: {len(gt)} boxes, {len(kp)} poses, {len(gt_ids)} image ids"
            )
        if len(dets) != len(det_ids):
            raise PGPGError(f"detections must pair up: {len(dets)} boxes, {len(det_ids)} image ids")
        if det_scores is not None:
            scores = np.asarray(det_scores, dtype=np.float64).reshape(-1)
            if len(scores) != len(dets):
                raise PGPGError(f"{len(scores)} detection scores for {len(dets)} detections")
            keep = scores >= min_score
            if len(dets) and not keep.any():
                raise PGPGError(
                    f"all {len(dets)} detections score below min_score={min_score} (best {scores.max():.3g}); "
                    "lower the score threshold"
                )
            dets, det_ids = dets[keep], det_ids[keep]
        if len(gt) == 0:
            raise PGPGError("no ground-truth people to fit PGPG on")
        if len(dets) == 0:
            raise PGPGError("no detections to fit PGPG on: the detection file is empty or holds no person boxes")

        atoms, labels = AtomicPoses.fit(
            kp,
            k,
            seed=seed,
            n_init=n_init,
            shoulders=shoulders,
            hips=hips,
            visibility_threshold=visibility_threshold,
            min_keypoints=min_keypoints,
        )

        sized = (gt[:, 2] > gt[:, 0]) & (gt[:, 3] > gt[:, 1])
        g_sorted = np.argsort(gt_ids, kind="stable")
        d_sorted = np.argsort(det_ids, kind="stable")
        images = np.unique(gt_ids)
        shared = np.intersect1d(images, det_ids)
        g_lo = np.searchsorted(gt_ids[g_sorted], shared, "left")
        g_hi = np.searchsorted(gt_ids[g_sorted], shared, "right")
        d_lo = np.searchsorted(det_ids[d_sorted], shared, "left")
        d_hi = np.searchsorted(det_ids[d_sorted], shared, "right")
        pairs_g: List[np.ndarray] = []
        pairs_d: List[np.ndarray] = []
        for i in range(len(shared)):  # loop over images
            gi = g_sorted[g_lo[i] : g_hi[i]]
            gi = gi[sized[gi]]
            di = d_sorted[d_lo[i] : d_hi[i]]
            if len(gi) == 0 or len(di) == 0:
                continue
            mg, md, _ = match_boxes(gt[gi], dets[di], iou_threshold)
            pairs_g.append(gi[mg])
            pairs_d.append(di[md])
        pg = np.concatenate(pairs_g) if pairs_g else np.zeros(0, dtype=np.int64)
        pd = np.concatenate(pairs_d) if pairs_d else np.zeros(0, dtype=np.int64)
        if len(pg) == 0:
            if len(shared) == 0:
                raise PGPGError(
                    f"no detection lies on an annotated image ({len(dets)} detections, {len(images)} images): "
                    "the detections' image ids must be those of the annotation file"
                )
            raise PGPGError(
                f"no detection matched a ground-truth box with IoU >= {iou_threshold} "
                f"({len(dets)} detections on {len(shared)} annotated images); check the box formats and image ids"
            )
        offsets = box_offsets(gt[pg], dets[pd])
        model = OffsetModel.fit(
            offsets,
            labels[pg],
            atoms.num_atoms,
            n_components=n_components,
            reg_covar=reg_covar,
            min_samples=min_samples,
            seed=seed,
        )
        gen = cls(
            mode="pgpg",
            offsets=model,
            atoms=atoms,
            probability=probability,
            subpatch_probability=subpatch_probability,
            subpatch_min_side=subpatch_min_side,
            min_side=min_side,
        )
        gen.fit_info = {
            "people": int(len(gt)),
            "poses_clustered": int((labels >= 0).sum()),
            "poses_without_atom": int((labels < 0).sum()),
            "detections": int(len(dets)),
            "matched": int(len(pg)),
            "matched_without_atom": int((labels[pg] < 0).sum()),
            "images": int(len(images)),
            "images_with_detections": int(len(shared)),
        }
        return gen

    @classmethod
    def from_config(cls, cfg: Any) -> "ProposalGenerator":
        """Build from a config section with ``type``, ``model`` and ``probability``.

        ``cfg`` may be a mapping or any object with those attributes (e.g. rmpe's
        ``train.proposals`` dataclass).
        """
        get = (lambda key, default=None: cfg.get(key, default)) if isinstance(cfg, Mapping) else (
            lambda key, default=None: getattr(cfg, key, default)
        )
        return build_proposal_generator(
            get("type", "gt"), get("model"), probability=get("probability", 1.0)
        )

    # ---------------------------------------------------------------- sampling
    def assign(self, keypoints: Optional[np.ndarray], num: int) -> np.ndarray:
        """Atom index used for each of ``num`` people (-1: the global mixture).

        Args:
            keypoints: (num, K, 3) GT (x, y, v) in pixels, or None.
            num: number of people.
        """
        if self.atoms is None or keypoints is None:
            return np.full(num, -1, dtype=np.int64)
        kp = check_keypoints(keypoints)
        if kp.shape[0] != num:
            raise PGPGError(f"{kp.shape[0]} poses given for {num} ground-truth boxes")
        return self.atoms.assign(kp)

    def sample_batch(
        self, gt_boxes: np.ndarray, keypoints: Optional[np.ndarray], n: int, rng: RandomLike = None
    ) -> np.ndarray:
        """``n`` proposals for each of N people.

        Args:
            gt_boxes: (N, 4) GT boxes, xyxy pixels.
            keypoints: (N, K, 3) GT (x, y, v) in pixels, or None (``pgpg`` then uses its
                global mixture).
            n: proposals per person.
            rng: numpy Generator (or a seed; None: fresh entropy).

        Returns:
            (N, n, 4) float32 xyxy proposals in pixels.
        """
        gt = check_boxes(gt_boxes, "gt_boxes") if np.size(gt_boxes) else np.zeros((0, 4))
        n = int(n)
        if n < 0:
            raise PGPGError(f"the number of proposals must be >= 0, got {n}")
        num = gt.shape[0]
        if self.mode == "gt" or num * n == 0:
            return np.broadcast_to(gt[:, None, :], (num, n, 4)).astype(np.float32)
        rng = _as_rng(rng)
        atoms = self.assign(keypoints, num)
        gt_rep = np.repeat(gt, n, axis=0)
        offsets = self.offsets.sample(np.repeat(atoms, n), rng)
        boxes = enforce_min_size(apply_offsets(gt_rep, offsets), gt_rep, self.min_side)
        use_patch = rng.random(num * n) < self.subpatch_probability
        patches = random_subpatches(gt_rep, rng, self.subpatch_min_side)
        boxes = np.where(use_patch[:, None], patches, boxes)
        generated = rng.random(num * n) < self.probability
        boxes = np.where(generated[:, None], boxes, gt_rep)
        return boxes.reshape(num, n, 4).astype(np.float32)

    def sample(
        self, gt_box: np.ndarray, keypoints: Optional[np.ndarray] = None, n: int = 1, rng: RandomLike = None
    ) -> np.ndarray:
        """``n`` proposals for one person.

        Args:
            gt_box: (4,) GT box, xyxy pixels.
            keypoints: (K, 3) GT (x, y, v) in pixels, or None.
            n: number of proposals.
            rng: numpy Generator (or a seed).

        Returns:
            (n, 4) float32 xyxy proposals in pixels.
        """
        box = np.asarray(gt_box, dtype=np.float64).reshape(-1)
        if box.shape != (4,):
            raise PGPGError(f"gt_box must be 4 numbers x1, y1, x2, y2, got shape {np.shape(gt_box)}")
        kp = None if keypoints is None else check_keypoints(keypoints)
        return self.sample_batch(box[None], kp, n, rng)[0]

    # ---------------------------------------------------------------- summary
    def summary(self) -> List[Dict[str, Any]]:
        """One row per atom plus a ``global`` row.

        Keys: ``atom`` (int or "global"), ``poses`` (fitting poses in the atom), ``matched``
        (matched detections), ``components`` (mixture components with weight > 0), ``mean``
        and ``std`` ((4,) mixture mean and standard deviation of the offsets), ``fallback``
        (the atom uses the global mixture).
        """
        if self.offsets is None:
            return []
        rows = []
        for a in list(range(self.offsets.num_atoms)) + [-1]:
            mix = self.offsets.mixture(a)
            is_global = a < 0
            rows.append(
                {
                    "atom": "global" if is_global else a,
                    "poses": int(self.atoms.counts.sum() if is_global else self.atoms.counts[a]) if self.atoms is not None else 0,
                    "matched": int(self.offsets.n_samples[a]),
                    "components": mix.n_components,
                    "mean": mix.mean(),
                    "std": mix.std(),
                    "fallback": bool(False if is_global else self.offsets.fallback[a]),
                }
            )
        return rows

    def format_summary(self) -> str:
        """The :meth:`summary` as a plain-text table."""
        head = (
            f"{'atom':>6} {'poses':>7} {'matched':>8} {'comp':>4} "
            f"{'mean dx1/w':>10} {'dy1/h':>7} {'dx2/w':>7} {'dy2/h':>7}  {'std dx1/w':>9} {'dy1/h':>7} "
            f"{'dx2/w':>7} {'dy2/h':>7}  fallback"
        )
        lines = [head]
        for r in self.summary():
            m, s = r["mean"], r["std"]
            lines.append(
                f"{r['atom']!s:>6} {r['poses']:>7d} {r['matched']:>8d} {r['components']:>4d} "
                f"{m[0]:>+10.4f} {m[1]:>+7.4f} {m[2]:>+7.4f} {m[3]:>+7.4f}  {s[0]:>9.4f} {s[1]:>7.4f} "
                f"{s[2]:>7.4f} {s[3]:>7.4f}  {'global' if r['fallback'] else ('-' if r['atom'] == 'global' else 'no')}"
            )
        return "\n".join(lines)

    # ---------------------------------------------------------------- save / load
    def state(self) -> Dict[str, np.ndarray]:
        """Numeric and string arrays describing the generator (what :meth:`save` writes)."""
        out: Dict[str, np.ndarray] = {
            "format": np.asarray(FORMAT_NAME),
            "version": np.asarray(FORMAT_VERSION, dtype=np.int64),
            "mode": np.asarray(self.mode),
            "probability": np.asarray(self.probability),
            "subpatch_probability": np.asarray(self.subpatch_probability),
            "subpatch_min_side": np.asarray(self.subpatch_min_side),
            "min_side": np.asarray(self.min_side),
        }
        if self.offsets is not None:
            out.update({f"offsets_{key}": np.asarray(v) for key, v in self.offsets.state().items()})
        if self.atoms is not None:
            out.update({f"atoms_{key}": np.asarray(v) for key, v in self.atoms.state().items()})
        return out

    @classmethod
    def from_state(cls, state: Mapping, source: str = "the PGPG model") -> "ProposalGenerator":
        """Inverse of :meth:`state`; ``source`` names the file in error messages."""
        try:
            if str(np.asarray(state["format"])) != FORMAT_NAME:
                raise PGPGError(f"{source} is not a PGPG model file (format {str(np.asarray(state['format']))!r})")
            version = int(np.asarray(state["version"]))
            if version != FORMAT_VERSION:
                raise PGPGError(f"{source} has PGPG format version {version}; this code reads version {FORMAT_VERSION}")
            mode = str(np.asarray(state["mode"]))
            offsets = atoms = None
            if mode in ("jitter", "pgpg"):
                offsets = OffsetModel.from_state({k[8:]: state[k] for k in state if k.startswith("offsets_")})
            if mode == "pgpg":
                atoms = AtomicPoses.from_state({k[6:]: state[k] for k in state if k.startswith("atoms_")})
            return cls(
                mode=mode,
                offsets=offsets,
                atoms=atoms,
                probability=float(np.asarray(state["probability"])),
                subpatch_probability=float(np.asarray(state["subpatch_probability"])),
                subpatch_min_side=float(np.asarray(state["subpatch_min_side"])),
                min_side=float(np.asarray(state["min_side"])),
            )
        except KeyError as exc:
            raise PGPGError(f"{source} lacks the entry {exc.args[0]!r}; re-create it with `rmpe-pgpg fit`") from None
        except PGPGError as exc:
            msg = str(exc)
            raise PGPGError(msg if msg.startswith(source) else f"{source}: {msg}") from None
        except (TypeError, ValueError) as exc:
            raise PGPGError(f"{source} holds malformed values ({exc}); re-create it with `rmpe-pgpg fit`") from None

    def save(self, path: Union[str, "os.PathLike[str]"]) -> None:
        """Write the generator to ``path``: ``.json`` as JSON, ``.npz`` as a numpy archive.

        The file is written to a temporary name in the same folder and renamed into place.
        """
        path = os.fspath(path)
        suffix = os.path.splitext(path)[1].lower()
        if suffix not in (".npz", ".json"):
            raise PGPGError(f"PGPG model file {path!r} must end in .npz or .json")
        state = self.state()
        folder = os.path.dirname(os.path.abspath(path))
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=folder)
        try:
            with os.fdopen(fd, "wb") as fh:
                if suffix == ".npz":
                    np.savez(fh, **state)
                else:
                    doc = {key: value.tolist() for key, value in state.items()}
                    fh.write(json.dumps(doc).encode("utf-8"))
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    @classmethod
    def load(cls, path: Union[str, "os.PathLike[str]"]) -> "ProposalGenerator":
        """Read a file written by :meth:`save` (numpy archives are read with ``allow_pickle=False``)."""
        path = os.fspath(path)
        if not os.path.isfile(path):
            raise PGPGError(f"PGPG model file not found: {path}; create one with `rmpe-pgpg fit`")
        source = f"PGPG model file {path}"
        if path.lower().endswith(".json"):
            try:
                with open(path, "r", encoding="utf-8") as fh:
                    doc = json.load(fh)
            except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise PGPGError(f"{source} is not valid JSON ({exc})") from None
            if not isinstance(doc, dict):
                raise PGPGError(f"{source} must hold a JSON object")
            return cls.from_state({k: np.asarray(v) for k, v in doc.items()}, source)
        try:
            with np.load(path, allow_pickle=False) as data:
                state = {key: data[key] for key in data.files}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
            raise PGPGError(f"{source} is not a readable .npz archive ({exc})") from None
        return cls.from_state(state, source)


# -------------------------------------------------------------------- registry
_REGISTRY: Dict[str, Callable[..., ProposalGenerator]] = {}


def register_proposal_generator(name: str) -> Callable[[Callable[..., ProposalGenerator]], Callable[..., ProposalGenerator]]:
    """Decorator: register a factory ``f(model=None, **kwargs) -> ProposalGenerator`` under ``name``."""

    def deco(fn: Callable[..., ProposalGenerator]) -> Callable[..., ProposalGenerator]:
        if name in _REGISTRY:
            raise ValueError(f"proposal generator {name!r} is already registered")
        _REGISTRY[name] = fn
        return fn

    return deco


def available_proposal_generators() -> List[str]:
    """Registered proposal generator names."""
    return sorted(_REGISTRY)


def build_proposal_generator(type: str = "gt", model: Optional[str] = None, **kwargs: Any) -> ProposalGenerator:
    """Build a proposal generator by name.

    Args:
        type: ``"gt"`` (the GT box), ``"jitter"`` (AlphaPose's global Gaussian) or
            ``"pgpg"`` (a fitted model file).
        model: the ``.npz`` / ``.json`` file written by ``rmpe-pgpg fit`` (``pgpg`` only;
            ignored by the others).
        **kwargs: sampling settings: ``probability``; for ``jitter`` and ``pgpg`` also
            ``subpatch_probability``, ``subpatch_min_side``, ``min_side`` (``pgpg``: None
            keeps the value stored in the file).

    Returns:
        A :class:`ProposalGenerator`.
    """
    if type not in _REGISTRY:
        raise PGPGError(f"unknown proposal type {type!r}; choose one of {', '.join(available_proposal_generators())}")
    return _REGISTRY[type](model, **kwargs)


@register_proposal_generator("gt")
def gt_proposals(model: Optional[str] = None, **kwargs: Any) -> ProposalGenerator:
    """Ground-truth boxes as proposals (settings are ignored)."""
    return ProposalGenerator.ground_truth()


@register_proposal_generator("jitter")
def jitter_proposals(
    model: Optional[str] = None,
    *,
    probability: float = 1.0,
    subpatch_probability: Optional[float] = None,
    subpatch_min_side: Optional[float] = None,
    min_side: Optional[float] = None,
) -> ProposalGenerator:
    """AlphaPose's global-Gaussian jitter with random sub-patches (``model`` is ignored)."""
    return ProposalGenerator.alphapose_jitter(
        probability=probability,
        subpatch_probability=ALPHAPOSE_SUBPATCH_PROBABILITY if subpatch_probability is None else subpatch_probability,
        subpatch_min_side=0.5 if subpatch_min_side is None else subpatch_min_side,
        min_side=0.05 if min_side is None else min_side,
    )


@register_proposal_generator("pgpg")
def pgpg_proposals(
    model: Optional[str] = None,
    *,
    probability: float = 1.0,
    subpatch_probability: Optional[float] = None,
    subpatch_min_side: Optional[float] = None,
    min_side: Optional[float] = None,
) -> ProposalGenerator:
    """A fitted PGPG model read from ``model``."""
    if not model:
        raise PGPGError("proposal type 'pgpg' needs a model file (train.proposals.model); create one with `rmpe-pgpg fit`")
    gen = ProposalGenerator.load(model)
    if gen.mode != "pgpg":
        raise PGPGError(f"PGPG model file {model} holds a {gen.mode!r} generator, not a fitted 'pgpg' model")
    return ProposalGenerator(
        mode="pgpg",
        offsets=gen.offsets,
        atoms=gen.atoms,
        probability=probability,
        subpatch_probability=gen.subpatch_probability if subpatch_probability is None else subpatch_probability,
        subpatch_min_side=gen.subpatch_min_side if subpatch_min_side is None else subpatch_min_side,
        min_side=gen.min_side if min_side is None else min_side,
    )
