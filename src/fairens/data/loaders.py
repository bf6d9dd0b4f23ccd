"""Feeding in-memory splits to training: whole batches by tensor indexing, no per-sample work."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from .base import Split


class SplitBatches(Dataset):
    """A split indexed by a whole batch of indices at once: ``batches[idx]`` gives
    (images uint8 [B, C, H, W], labels int64 [B], sample_ids int64 [B])."""

    def __init__(self, split: Split) -> None:
        self.split = split

    def __len__(self) -> int:
        return len(self.split)

    def __getitem__(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        s = self.split
        return s.images[index], s.labels[index], s.sample_ids[index]


class EpochBatchSampler(Sampler[torch.Tensor]):
    """Batches of indices; with a seed, a fresh permutation each epoch that is a pure function
    of (seed, epoch), so a run resumed at an epoch boundary sees the same order.

    Lightning calls :meth:`set_epoch` at the start of every epoch.
    """

    def __init__(self, n: int, batch_size: int, *, seed: int | None = None,
                 drop_last: bool = False) -> None:
        self.n, self.batch_size, self.seed, self.drop_last = n, batch_size, seed, drop_last
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.n // self.batch_size if self.drop_last else -(-self.n // self.batch_size)

    def __iter__(self) -> Iterator[torch.Tensor]:
        if self.seed is None:
            order = torch.arange(self.n)
        else:
            key = np.random.SeedSequence([self.seed, self.epoch]).generate_state(1, np.uint64)
            generator = torch.Generator().manual_seed(int(key[0]))
            order = torch.randperm(self.n, generator=generator)
        yield from order.split(self.batch_size)[:len(self)]


def batch_loader(split: Split, batch_size: int, *, shuffle_seed: int | None = None,
                 drop_last: bool = False) -> DataLoader:
    """A DataLoader over ``split``; shuffled per epoch from ``shuffle_seed`` when given.

    Training drops a last batch smaller than ``batch_size`` only when asked
    (batch norm cannot train on a batch of one).
    """
    drop_last = drop_last and len(split) > batch_size
    sampler = EpochBatchSampler(len(split), batch_size, seed=shuffle_seed, drop_last=drop_last)
    return DataLoader(SplitBatches(split), sampler=sampler, batch_size=None)
