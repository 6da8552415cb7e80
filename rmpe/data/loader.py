"""The one DataLoader recipe of training and validation: batching and worker set-up.

Samples of :class:`rmpe.data.dataset.COCOKeypointDataset` are a function of ``(seed, epoch,
index)`` only (each draws its augmentation from its own generator), so the batches do not
depend on the number of workers, on which worker loads a sample, or on the workers' seeds.
:func:`build_loader` passes no ``generator`` to the DataLoader: as before, every iteration
draws the workers' base seed from torch's global generator, whose state the trainer saves
in its checkpoints, so a resumed run continues bit-exactly.
"""
from __future__ import annotations

import os
from typing import Any, Dict, List, Optional

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

#: Scheduling niceness added to DataLoader workers: the few milliseconds of decoding and
#: warping per batch then fill the gaps of the training process instead of preempting one of
#: its compute threads (on a 2-core CPU a preempted OpenMP thread stalls the other one too).
WORKER_NICENESS = 10


def worker_init(worker_id: int) -> None:
    """DataLoader worker set-up: one OpenCV thread (workers already run one torch thread) and
    a lower scheduling priority (:data:`WORKER_NICENESS`)."""
    try:
        import cv2

        cv2.setNumThreads(1)
    except Exception:  # noqa: BLE001
        pass
    if WORKER_NICENESS and hasattr(os, "nice"):
        try:
            os.nice(WORKER_NICENESS)
        except OSError:
            pass


def collate_samples(samples: List[Dict[str, Any]]) -> Dict[str, Any]:
    """Stack samples into a batch; ``bad`` lists are concatenated, ``errors`` collected.

    Args:
        samples: B samples of :class:`rmpe.data.dataset.COCOKeypointDataset`.

    Returns:
        ``image`` (B,3,H,W) uint8 RGB crops; ``keypoints`` and ``centred`` (B,K,2) float32
        crop pixels; ``visible`` (B,K) float32; ``matrix`` (B,3,3) float32 image -> crop;
        ``index`` (B,) long; ``valid`` (B,) bool; ``bad`` the failed image paths; ``errors``
        the samples' error messages.
    """
    batch: Dict[str, Any] = {}
    for key in ("image", "keypoints", "visible", "centred", "matrix"):
        batch[key] = torch.stack([s[key] for s in samples])
    batch["index"] = torch.tensor([s["index"] for s in samples], dtype=torch.long)
    batch["bad"] = [path for s in samples for path in s["bad"]]
    batch["errors"] = [s["error"] for s in samples if s["error"]]
    batch["valid"] = torch.tensor([bool(s["valid"]) for s in samples], dtype=torch.bool)
    return batch


def build_loader(
    dataset: Dataset,
    *,
    batch_size: int,
    sampler: Optional[Sampler] = None,
    num_workers: int = 0,
    drop_last: bool = False,
    pin_memory: bool = False,
    collate: Any = collate_samples,
) -> DataLoader:
    """A DataLoader over ``dataset`` with :func:`collate_samples` and :func:`worker_init`.

    Args:
        dataset: a :class:`rmpe.data.dataset.COCOKeypointDataset` (or anything yielding
            its samples).
        batch_size: samples per batch.
        sampler: the order (training: :class:`rmpe.train.sampler.EpochSampler`); None reads
            the data set in order (validation).
        num_workers: worker processes; 0 loads in the calling process.
        drop_last: drop a last incomplete batch.
        pin_memory: pin batches for a faster copy to CUDA.
        collate: how samples become a batch (the bottom-up data set brings its own).

    Returns:
        The DataLoader (workers are started per iteration, never kept between epochs).

    With workers, the calling process keeps OpenCV to one thread from here on: the workers are
    forked at every epoch, and a child forked while OpenCV's thread pool runs in the parent
    (started, for example, by validation's ``cv2.warpAffine`` crops on the CPU) can hang in its
    first OpenCV call.
    """
    if num_workers > 0:
        try:
            import cv2

            cv2.setNumThreads(1)
        except Exception:  # noqa: BLE001
            pass
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=num_workers,
        collate_fn=collate,
        pin_memory=pin_memory,
        drop_last=drop_last,
        worker_init_fn=worker_init if num_workers > 0 else None,
        persistent_workers=False,
    )
