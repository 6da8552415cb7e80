"""Proposal generators for SPPE training: ground truth, AlphaPose's jitter, or fitted PGPG.

A proposal generator turns a person's ground-truth box (and pose) into boxes that look like a
detector's output, so the SPPE trains on the same kind of imperfect boxes it sees at test time
(RMPE's pose-guided proposals generator). One class per kind:

* :class:`GroundTruthProposals` (``gt``): the ground-truth box itself (no randomness).
* :class:`JitterProposals` (``jitter``): AlphaPose's stand-in: one global Gaussian per side,
  x1 ~ N(-0.0142, 0.1158) w, y1 ~ N(0.0043, 0.068) h, x2 ~ N(0.0154, 0.1337) w,
  y2 ~ N(-0.0013, 0.0711) h, plus random sub-patches with probability 0.15.
* :class:`PGPGProposals` (``pgpg``): the person's pose is assigned to its atomic pose
  (:class:`~pgpg.atomic_poses.AtomicPoses`) and the side offsets are drawn from that atom's
  Gaussian mixture (:class:`~pgpg.offsets.OffsetModel`), plus random sub-patches. Fitted by
  :func:`pgpg.fit.fit_pgpg`.

One proposal of the two random kinds is made like this, in this order
(:class:`SamplingSettings` holds the numbers):

1. offsets o ~ the atom's mixture (``jitter``: the one Gaussian); box = gt + o * (w, h, w, h).
2. Minimum size: a side shorter than ``min_side`` x the GT side (or inverted) is re-centred
   on its midpoint at exactly that length.
3. Random sub-patch, with probability ``subpatch_probability``: the box is replaced by an
   axis-aligned box inside the GT box whose width and height are independent uniform
   fractions in [``subpatch_min_side``, 1] (default 0.5, so at least a quarter of the GT
   area) of the GT width and height, placed uniformly at random inside the GT box.
4. With probability 1 - ``probability`` the GT box is used instead.

Random numbers come only from the ``numpy.random.Generator`` passed in, a fixed number per
proposal, so a seeded generator gives the same proposals every time (also after saving and
loading, :mod:`pgpg.serialization`). In DataLoader workers, give each worker its own generator
(e.g. seeded from ``torch.initial_seed()``).
"""
from __future__ import annotations

import abc
import copy
import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar, Dict, List, Mapping, Optional, Sequence, Union

import numpy as np

from .atomic_poses import AtomicPoses
from .errors import PGPGError
from .matching import apply_offsets, check_boxes
from .normalize import check_keypoints
from .offsets import OffsetModel

#: AlphaPose's global offset Gaussian (x1, y1, x2, y2), in units of the GT width / height.
ALPHAPOSE_OFFSET_MEAN = (-0.0142, 0.0043, 0.0154, -0.0013)
ALPHAPOSE_OFFSET_STD = (0.1158, 0.068, 0.1337, 0.0711)
ALPHAPOSE_SUBPATCH_PROBABILITY = 0.15

RandomLike = Union[np.random.Generator, int, None]


def as_rng(rng: RandomLike) -> np.random.Generator:
    """``rng`` itself, or a new Generator seeded with it (None: fresh entropy)."""
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


@dataclass(frozen=True)
class SamplingSettings:
    """How the random generators turn offsets into proposals (steps 2-4 of the module docstring)."""

    probability: float = 1.0  #: chance that a proposal is generated rather than the GT box, in [0, 1]
    subpatch_probability: float = ALPHAPOSE_SUBPATCH_PROBABILITY  #: chance a generated proposal is a sub-patch, in [0, 1]
    subpatch_min_side: float = 0.5  #: smallest sub-patch side as a fraction of the GT side, in (0, 1]
    min_side: float = 0.05  #: smallest proposal side as a fraction of the GT side, in [0, 1]

    def __post_init__(self) -> None:
        for name, lo_open in (
            ("probability", False),
            ("subpatch_probability", False),
            ("subpatch_min_side", True),
            ("min_side", False),
        ):
            try:
                value = float(getattr(self, name))
            except (TypeError, ValueError):
                raise PGPGError(f"proposal {name} must be a number, got {getattr(self, name)!r}") from None
            if not (0.0 < value <= 1.0 if lo_open else 0.0 <= value <= 1.0):
                raise PGPGError(f"proposal {name} must lie in {'(' if lo_open else '['}0.0, 1.0], got {value}")
            object.__setattr__(self, name, value)

    def updated(self, **values: Optional[float]) -> "SamplingSettings":
        """A copy with the given settings replaced; ``None`` keeps the current value."""
        return dataclasses.replace(self, **{k: v for k, v in values.items() if v is not None})

    def to_state(self) -> Dict[str, np.ndarray]:
        """The four settings as 0-d float arrays (file entries)."""
        return {f.name: np.asarray(getattr(self, f.name)) for f in dataclasses.fields(self)}

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> "SamplingSettings":
        """Inverse of :meth:`to_state` (a missing entry raises KeyError naming it)."""
        return cls(**{f.name: float(np.asarray(state[f.name])) for f in dataclasses.fields(cls)})


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
        boxes: (M, 4) xyxy proposals, pixels.
        gt: (M, 4) their GT boxes, xyxy pixels.
        min_side: fraction of the GT width / height, >= 0.

    Returns:
        (M, 4) xyxy boxes, pixels.
    """
    out = boxes.copy()
    for lo, hi in ((0, 2), (1, 3)):
        need = min_side * (gt[:, hi] - gt[:, lo])
        short = (out[:, hi] - out[:, lo]) < need
        mid = 0.5 * (out[:, hi] + out[:, lo])
        out[:, lo] = np.where(short, mid - 0.5 * need, out[:, lo])
        out[:, hi] = np.where(short, mid + 0.5 * need, out[:, hi])
    return out


class ProposalGenerator(abc.ABC):
    """Makes training proposals from people's GT boxes (and poses); one subclass per kind."""

    #: The registry name and the ``mode`` entry of a saved file.
    kind: ClassVar[str]
    #: Whether the generator is fitted to data (built from a model file rather than settings).
    fitted: ClassVar[bool] = False

    @abc.abstractmethod
    def sample_batch(
        self, gt_boxes: np.ndarray, keypoints: Optional[np.ndarray], n: int, rng: RandomLike = None
    ) -> np.ndarray:
        """``n`` proposals for each of N people.

        Args:
            gt_boxes: (N, 4) GT boxes, xyxy pixels.
            keypoints: (N, K, 3) GT (x, y, v) in pixels, or None (a pose-guided generator then
                uses its global mixture).
            n: proposals per person, >= 0.
            rng: numpy Generator (or a seed; None: fresh entropy).

        Returns:
            (N, n, 4) float32 xyxy proposals in pixels.
        """

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

    def with_settings(self, **values: Optional[float]) -> "ProposalGenerator":
        """This generator with sampling settings replaced (``None`` keeps a value); the ground
        truth has none and returns itself."""
        return self

    def state(self) -> Dict[str, np.ndarray]:
        """Arrays describing the generator, without the file header (:mod:`pgpg.serialization`)."""
        return {}

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> "ProposalGenerator":
        """Inverse of :meth:`state`; a missing entry raises KeyError naming it."""
        return cls()

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def _checked_boxes(gt_boxes: np.ndarray, n: int) -> np.ndarray:
    gt = check_boxes(gt_boxes, "gt_boxes") if np.size(gt_boxes) else np.zeros((0, 4))
    if int(n) < 0:
        raise PGPGError(f"the number of proposals must be >= 0, got {int(n)}")
    return gt


class GroundTruthProposals(ProposalGenerator):
    """Proposals that are the GT box itself (``gt``)."""

    kind = "gt"

    def sample_batch(
        self, gt_boxes: np.ndarray, keypoints: Optional[np.ndarray], n: int, rng: RandomLike = None
    ) -> np.ndarray:
        """(N, n, 4) float32 copies of the (N, 4) GT boxes (``keypoints`` and ``rng`` unused)."""
        gt = _checked_boxes(gt_boxes, n)
        return np.broadcast_to(gt[:, None, :], (gt.shape[0], int(n), 4)).astype(np.float32)


class OffsetProposals(ProposalGenerator):
    """Proposals drawn as GT box + sampled side offsets (steps 1-4 of the module docstring).

    Args:
        offsets: the offset model: one mixture per atom plus a global one.
        settings: the sampling settings (defaults: :class:`SamplingSettings`).
    """

    def __init__(self, offsets: OffsetModel, settings: Optional[SamplingSettings] = None) -> None:
        self.offsets = offsets
        self.settings = SamplingSettings() if settings is None else settings

    def atoms_of(self, keypoints: Optional[np.ndarray], num: int) -> np.ndarray:
        """(num,) mixture used for each person: -1 (the global one) unless a subclass knows better."""
        return np.full(num, -1, dtype=np.int64)

    def sample_batch(
        self, gt_boxes: np.ndarray, keypoints: Optional[np.ndarray], n: int, rng: RandomLike = None
    ) -> np.ndarray:
        """(N, n, 4) float32 xyxy proposals for (N, 4) GT boxes (steps 1-4 of the module
        docstring); arguments as in :meth:`ProposalGenerator.sample_batch`."""
        gt = _checked_boxes(gt_boxes, n)
        n, num = int(n), gt.shape[0]
        if num * n == 0:
            return np.zeros((num, n, 4), dtype=np.float32)
        rng = as_rng(rng)
        s = self.settings
        atoms = self.atoms_of(keypoints, num)
        gt_rep = np.repeat(gt, n, axis=0)
        offsets = self.offsets.sample(np.repeat(atoms, n), rng)
        boxes = enforce_min_size(apply_offsets(gt_rep, offsets), gt_rep, s.min_side)
        use_patch = rng.random(num * n) < s.subpatch_probability
        patches = random_subpatches(gt_rep, rng, s.subpatch_min_side)
        boxes = np.where(use_patch[:, None], patches, boxes)
        generated = rng.random(num * n) < s.probability
        boxes = np.where(generated[:, None], boxes, gt_rep)
        return boxes.reshape(num, n, 4).astype(np.float32)

    def with_settings(self, **values: Optional[float]) -> "OffsetProposals":
        clone = copy.copy(self)
        clone.settings = self.settings.updated(**values)
        return clone

    def pose_counts(self) -> np.ndarray:
        """(A,) poses that formed each atom (zeros: the offsets were not fitted to poses)."""
        return np.zeros(self.offsets.num_atoms, dtype=np.int64)

    def summary(self) -> List[Dict[str, Any]]:
        """One row per atom plus a ``global`` row.

        Keys: ``atom`` (int or "global"), ``poses`` (fitting poses in the atom), ``matched``
        (matched detections), ``components`` (mixture components with weight > 0), ``mean``
        and ``std`` ((4,) mixture mean and standard deviation of the offsets), ``fallback``
        (the atom uses the global mixture).
        """
        counts = self.pose_counts()
        rows = []
        for a in list(range(self.offsets.num_atoms)) + [-1]:
            mix = self.offsets.mixture(a)
            is_global = a < 0
            rows.append(
                {
                    "atom": "global" if is_global else a,
                    "poses": int(counts.sum() if is_global else counts[a]),
                    "matched": int(self.offsets.n_samples[a]),
                    "components": mix.n_components,
                    "mean": mix.mean(),
                    "std": mix.std(),
                    "fallback": bool(False if is_global else self.offsets.fallback[a]),
                }
            )
        return rows

    def state(self) -> Dict[str, np.ndarray]:
        out = self.settings.to_state()
        out.update({f"offsets_{key}": np.asarray(v) for key, v in self.offsets.state().items()})
        return out

    @staticmethod
    def _offsets_from_state(state: Mapping[str, Any]) -> OffsetModel:
        return OffsetModel.from_state({k[len("offsets_"):]: state[k] for k in state if k.startswith("offsets_")})

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> "OffsetProposals":
        return cls(cls._offsets_from_state(state), SamplingSettings.from_state(state))

    def __repr__(self) -> str:
        s = self.settings
        return f"{type(self).__name__}(probability={s.probability}, subpatch_probability={s.subpatch_probability})"


class JitterProposals(OffsetProposals):
    """AlphaPose's jitter (``jitter``): one global Gaussian of side offsets plus sub-patches.

    Args:
        offsets: a one-atom offset model; default AlphaPose's Gaussians
            (:data:`ALPHAPOSE_OFFSET_MEAN`, :data:`ALPHAPOSE_OFFSET_STD`).
        settings: the sampling settings.
    """

    kind = "jitter"

    def __init__(self, offsets: Optional[OffsetModel] = None, settings: Optional[SamplingSettings] = None) -> None:
        if offsets is None:
            offsets = OffsetModel.single_gaussian(ALPHAPOSE_OFFSET_MEAN, ALPHAPOSE_OFFSET_STD)
        super().__init__(offsets, settings)

    @classmethod
    def gaussian(
        cls, mean: Sequence[float], std: Sequence[float], settings: Optional[SamplingSettings] = None
    ) -> "JitterProposals":
        """Jitter with one Gaussian per side: (4,) ``mean`` and ``std`` of (x1, y1, x2, y2) in
        units of the GT width / height."""
        return cls(OffsetModel.single_gaussian(mean, std), settings)


class PGPGProposals(OffsetProposals):
    """Pose-guided proposals (``pgpg``): offsets from the mixture of the person's atomic pose.

    Args:
        atoms: the atomic poses.
        offsets: one offset mixture per atom plus a global one (people without atom).
        settings: the sampling settings.
    """

    kind = "pgpg"
    fitted = True

    def __init__(self, atoms: AtomicPoses, offsets: OffsetModel, settings: Optional[SamplingSettings] = None) -> None:
        if atoms.num_atoms != offsets.num_atoms:
            raise PGPGError(
                f"the PGPG model has {atoms.num_atoms} atomic poses but {offsets.num_atoms} offset mixtures"
            )
        super().__init__(offsets, settings)
        self.atoms = atoms
        #: matching statistics of :func:`pgpg.fit.fit_pgpg` (empty for a loaded generator)
        self.fit_info: Dict[str, int] = {}

    def atoms_of(self, keypoints: Optional[np.ndarray], num: int) -> np.ndarray:
        """(num,) atom of each person (-1: the global mixture, also for all when ``keypoints``
        is None).

        Args:
            keypoints: (num, K, 3) GT (x, y, v) in pixels, or None.
            num: number of people.
        """
        if keypoints is None:
            return np.full(num, -1, dtype=np.int64)
        kp = check_keypoints(keypoints)
        if kp.shape[0] != num:
            raise PGPGError(f"{kp.shape[0]} poses given for {num} ground-truth boxes")
        return self.atoms.assign(kp)

    def pose_counts(self) -> np.ndarray:
        """(A,) poses that formed each atomic pose."""
        return self.atoms.counts

    def state(self) -> Dict[str, np.ndarray]:
        out = super().state()
        out.update({f"atoms_{key}": np.asarray(v) for key, v in self.atoms.state().items()})
        return out

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> "PGPGProposals":
        atoms = AtomicPoses.from_state({k[len("atoms_"):]: state[k] for k in state if k.startswith("atoms_")})
        return cls(atoms, cls._offsets_from_state(state), SamplingSettings.from_state(state))

    def __repr__(self) -> str:
        s = self.settings
        return (
            f"PGPGProposals(atoms={self.atoms.num_atoms}, probability={s.probability}, "
            f"subpatch_probability={s.subpatch_probability})"
        )
