"""Epoch-seeded, shardable, resumable sampling for the training loop.

:class:`EpochSampler` wraps :class:`torch.utils.data.DistributedSampler` (which shuffles
with ``seed + epoch`` and gives every rank a disjoint, equally long slice) and adds two
things the trainer needs:

* it yields ``(epoch, index)`` pairs, so :class:`rmpe.data.dataset.COCOKeypointDataset` seeds
  each sample's augmentation from ``(seed, epoch, index)`` whichever worker loads it;
* :meth:`EpochSampler.skip` drops the first samples of the epoch, so a run resumed from a
  mid-epoch checkpoint continues with exactly the batches it had not seen.
"""
from __future__ import annotations

from typing import Iterator, Tuple

from torch.utils.data import DistributedSampler


class _Sized:
    """Stands in for a data set where only its length matters."""

    def __init__(self, n: int) -> None:
        self.n = int(n)

    def __len__(self) -> int:
        return self.n


class EpochSampler:
    """Shuffled (or ordered) per-rank indices of one epoch as ``(epoch, index)`` pairs.

    Args:
        num_samples: size of the data set.
        num_replicas: world size (1 without ``torchrun``).
        rank: this process's rank.
        shuffle: shuffle with ``seed + epoch`` (the same permutation on every rank).
        seed: base seed.
        drop_last: drop the tail that does not divide evenly among ranks (otherwise the
            first indices are repeated to pad, as ``DistributedSampler`` does).
    """

    def __init__(
        self,
        num_samples: int,
        *,
        num_replicas: int = 1,
        rank: int = 0,
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = False,
    ) -> None:
        self._inner = DistributedSampler(
            _Sized(num_samples), num_replicas=num_replicas, rank=rank, shuffle=shuffle, seed=seed, drop_last=drop_last
        )
        self.epoch = 0
        self.offset = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch (its permutation) and reset :meth:`skip`."""
        self.epoch = int(epoch)
        self.offset = 0
        self._inner.set_epoch(self.epoch)

    def skip(self, num: int) -> None:
        """Leave out the first ``num`` samples of this rank's slice of the current epoch."""
        self.offset = max(0, int(num))

    @property
    def samples_per_epoch(self) -> int:
        """Samples this rank sees in a whole epoch."""
        return len(self._inner)

    def __len__(self) -> int:
        return max(0, len(self._inner) - self.offset)

    def __iter__(self) -> Iterator[Tuple[int, int]]:
        for i, index in enumerate(self._inner):
            if i >= self.offset:
                yield (self.epoch, int(index))
