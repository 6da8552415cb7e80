"""Input conversion and checks shared by the NMS functions: numpy or torch in, torch to
compute, the caller's kind back out; per-image proposal lists flattened into one batch."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from .errors import PoseNMSError


def compute_spec(*arrays: Any) -> Tuple[torch.device, torch.dtype, bool]:
    """Pick the device, the floating dtype and whether the caller wants numpy back.

    The first torch tensor among ``arrays`` decides the device (CPU when none is a tensor).
    float64 input (torch or numpy) computes in float64; float16/bfloat16 and integer input
    compute in float32. Numpy is returned when the first array is not a torch tensor.
    """
    device = torch.device("cpu")
    for a in arrays:
        if isinstance(a, torch.Tensor):
            device = a.device
            break
    first = arrays[0]
    dtype = torch.float32
    if isinstance(first, torch.Tensor):
        if first.dtype == torch.float64:
            dtype = torch.float64
    else:
        if np.asarray(first).dtype == np.float64:
            dtype = torch.float64
    return device, dtype, not isinstance(first, torch.Tensor)


def to_tensor(value: Any, name: str, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """Convert ``value`` (tensor, numpy array or nested list) to ``dtype`` on ``device``."""
    try:
        if isinstance(value, torch.Tensor):
            return value.detach().to(device=device, dtype=dtype)
        return torch.as_tensor(np.asarray(value, dtype=np.float64), dtype=dtype, device=device)
    except (TypeError, ValueError, RuntimeError):
        raise PoseNMSError(f"{name}: expected a numeric array, got {type(value).__name__}") from None


def check_shape(
    t: Union[torch.Tensor, np.ndarray], name: str, shape: Tuple[Optional[int], ...], text: str
) -> None:
    """Raise a PoseNMSError unless ``t`` (tensor or array) has the given shape (None = any size).

    ``text`` is the expected shape as the message shows it, e.g. ``"(N, K, 2)"``.
    """
    ok = len(t.shape) == len(shape) and all(s is None or s == d for s, d in zip(shape, t.shape))
    if not ok:
        raise PoseNMSError(f"{name}: expected shape {text}, got {tuple(t.shape)}")


def check_finite(t: torch.Tensor, name: str, what: str = "proposal") -> None:
    """Raise a PoseNMSError naming the first row with a NaN or infinite value."""
    if t.numel() == 0:
        return
    if bool(torch.isfinite(t.sum())):  # one reduction; NaN/inf propagate (a huge finite sum falls through)
        return
    bad = ~torch.isfinite(t)
    if bool(bad.any()):
        rows = bad.reshape(t.shape[0], -1).any(1) if t.dim() > 1 else bad
        first = int(torch.nonzero(rows)[0, 0])
        raise PoseNMSError(
            f"{name} contain NaN or infinite values ({what} {first}); drop or fix those entries before NMS"
        )


def to_output(t: torch.Tensor, numpy_out: bool) -> Any:
    """Return ``t`` as is, or as a numpy array (moved to the CPU)."""
    return t.cpu().numpy() if numpy_out else t


# ----------------------------------------------------------------------------- per-image lists


def as_array(value: Any, name: str) -> Union[torch.Tensor, np.ndarray]:
    """A detached tensor as is, else a numeric (or bool) numpy array; raises naming ``name``."""
    if isinstance(value, torch.Tensor):
        return value.detach()
    if isinstance(value, np.ndarray) and value.dtype.kind in "fiub":
        return value
    try:
        arr = np.asarray(value)
        if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
            raise TypeError
        return arr
    except (TypeError, ValueError):
        raise PoseNMSError(f"{name}: expected a numeric array, got {type(value).__name__}") from None


def numel(a: Union[torch.Tensor, np.ndarray]) -> int:
    """Number of elements of a tensor or an array."""
    return int(a.numel()) if isinstance(a, torch.Tensor) else int(a.size)


def concat(items: List[Any], device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """Concatenate per-image arrays (already shape-checked) into one tensor."""
    if all(isinstance(a, np.ndarray) for a in items):
        cat = np.concatenate(items)
        if cat.dtype not in (np.float32, np.float64) or not cat.dtype.isnative:
            cat = cat.astype(np.float64)
        return torch.from_numpy(cat).to(device, dtype)
    return torch.cat([a.to(device, dtype) if isinstance(a, torch.Tensor)
                      else torch.from_numpy(np.asarray(a, dtype=np.float64)).to(device, dtype) for a in items])


@dataclass
class FlatProposals:
    """The proposals of B images checked and concatenated, T = sum of ``counts``.

    Attributes:
        keypoints: (T, K, 2) image px.
        keypoint_scores: (T, K) as given (no clamping yet).
        boxes: (T, 4) xyxy image px.
        box_scores: (T,).
        counts: B proposal counts, one per image.
        num_keypoints: K (0 when no image has proposals and none says otherwise).
        device, dtype: where and in which float type to compute.
        numpy_out: whether the caller gets numpy arrays back.
    """

    keypoints: torch.Tensor
    keypoint_scores: torch.Tensor
    boxes: torch.Tensor
    box_scores: torch.Tensor
    counts: List[int]
    num_keypoints: int
    device: torch.device
    dtype: torch.dtype
    numpy_out: bool


def flatten_per_image(boxes: Sequence[Any], box_scores: Sequence[Any], keypoints: Sequence[Any],
                      keypoint_scores: Sequence[Any]) -> FlatProposals:
    """Check per-image lists of proposals and concatenate them.

    Args:
        boxes: per image an (N_b, 4) xyxy array, image px.
        box_scores: per image (N_b,).
        keypoints: per image (N_b, K, 2), image px (K equal for all images).
        keypoint_scores: per image (N_b, K).

    The first image with proposals decides device, dtype and the output kind
    (:func:`compute_spec`). Messages name the image (``image b: ...``) when there are several.

    Raises:
        PoseNMSError: not lists, unequal lengths, a wrong shape, NaN or infinite values.
    """
    lists = (boxes, box_scores, keypoints, keypoint_scores)
    names = ("boxes", "box_scores", "keypoints", "keypoint_scores")
    for name, seq in zip(names, lists):
        if isinstance(seq, (torch.Tensor, np.ndarray)) or not isinstance(seq, Sequence):
            raise PoseNMSError(f"{name}: expected a list with one array per image")
    if len({len(seq) for seq in lists}) != 1:
        raise PoseNMSError(
            "boxes, box_scores, keypoints and keypoint_scores must have one entry per image; got lengths "
            + ", ".join(str(len(s)) for s in lists)
        )
    num_images = len(keypoints)

    def where(b: int) -> str:
        return "" if num_images == 1 else f"image {b}: "

    kps = [as_array(a, f"{where(b)}keypoints") for b, a in enumerate(keypoints)]
    K = None
    for b, a in enumerate(kps):
        if numel(a) == 0 and not (a.ndim == 3 and a.shape[-1] == 2):
            continue
        check_shape(a, f"{where(b)}keypoints", (None, None, 2), "(N, K, 2)")
        if K is None:
            K = int(a.shape[1])
        elif a.shape[1] != K and a.shape[0] > 0:
            raise PoseNMSError(
                f"{where(b)}keypoints: all images must have the same number of joints, got {a.shape[1]} and {K}"
            )
    if K is None:
        K = 0
    if K == 0 and any(numel(a) for a in kps):
        raise PoseNMSError("keypoints: K must be at least 1 joint per pose")
    counts = [int(a.shape[0]) if a.ndim == 3 else 0 for a in kps]
    # the first image with proposals decides device, dtype and the output kind
    ref_b = next((b for b, n in enumerate(counts) if n), 0)
    device, dtype, numpy_out = compute_spec(
        keypoints[ref_b] if num_images else np.zeros(0), *(lst[ref_b] for lst in lists if num_images)
    )

    def checked(seq: Sequence[Any], name: str, tail: Tuple[int, ...]) -> List[Any]:
        out = []
        for b, value in enumerate(seq):
            a = as_array(value, f"{where(b)}{name}")
            n = counts[b]
            if n == 0 and numel(a) == 0:
                a = a.reshape((0,) + tail)
            text = "(" + ", ".join(str(v) for v in (n,) + tail) + ("," if not tail else "") + ")"
            check_shape(a, f"{where(b)}{name}", (n,) + tail, f"{text} for {n} poses")
            out.append(a)
        return out

    kps = [a.reshape(0, K, 2) if numel(a) == 0 else a for a in kps]
    box_list = checked(boxes, "boxes", (4,))
    box_score_list = checked(box_scores, "box_scores", ())
    keypoint_score_list = checked(keypoint_scores, "keypoint_scores", (K,))
    if sum(counts) == 0:
        def zeros(*shape: int) -> torch.Tensor:
            return torch.zeros(shape, dtype=dtype, device=device)

        return FlatProposals(zeros(0, K, 2), zeros(0, K), zeros(0, 4), zeros(0), counts, K, device, dtype, numpy_out)
    flat = FlatProposals(
        keypoints=concat(kps, device, dtype),
        keypoint_scores=concat(keypoint_score_list, device, dtype),
        boxes=concat(box_list, device, dtype),
        box_scores=concat(box_score_list, device, dtype),
        counts=counts,
        num_keypoints=K,
        device=device,
        dtype=dtype,
        numpy_out=numpy_out,
    )
    arrays = ((flat.keypoints, "keypoints"), (flat.boxes, "boxes"), (flat.box_scores, "box_scores"),
              (flat.keypoint_scores, "keypoint_scores"))
    # one reduction per array and one sync; NaN/inf propagate into the sums
    sums = torch.stack([t.sum() for t, _ in arrays])
    if not bool(torch.isfinite(sums).all()):
        starts = np.concatenate([[0], np.cumsum(counts)]).tolist()
        for t, name in arrays:  # find the first bad proposal (loop over images)
            for b in range(num_images):
                check_finite(t[starts[b]:starts[b + 1]], f"{where(b)}{name}")
    return flat
