"""The ``DataLoader`` of every training run, reproducible whatever the number of workers.

:func:`make_loader` pairs a map-style dataset (e.g. :class:`helpers.depth.data.depth_dataset.DepthDataset`, or any
dataset that takes ``(index, item_seed)`` keys) with a :class:`SeededSampler`, which
yields ``(index, item_seed)``: the item seeds come from a generator seeded by ``(seed, epoch)``, so augmentations
(and the shuffle order) depend only on the loader's seed and the epoch, not on the workers or their scheduling.
:func:`seed_worker` seeds Python's and numpy's RNGs in each worker.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

#: Item seeds are drawn in [0, SEED_RANGE).
SEED_RANGE = 2**62


def _mix(*values: int) -> int:
    """A well-mixed 63-bit seed from integers."""
    return int(np.random.SeedSequence([v & 0xFFFFFFFFFFFFFFFF for v in values]).generate_state(1, np.uint64)[0] >> 1)


class SeededSampler(Sampler[tuple[int, int]]):
    """Yields ``(index, item_seed)`` pairs: a permutation (``shuffle``) or ``0..n-1`` and one seed per item.

    Both come from a generator seeded by ``(seed, epoch)``; the epoch advances at each pass (or is set with
    :meth:`set_epoch`, e.g. when resuming), so every epoch differs and a run is reproducible.

    Distributed training (``world_size`` > 1): every rank draws the same epoch order and takes every
    ``world_size``-th item from position ``rank``, the order padded by wrapping around so that all ranks get the
    same number of items (DDP needs equal step counts). ``start`` skips the first items of this rank's share of the
    next pass (resuming in the middle of an epoch: ``batches_done · batch_size``), leaving their seeds untouched.
    """

    def __init__(self, length: int, *, shuffle: bool, seed: int = 0, rank: int = 0, world_size: int = 1) -> None:
        if not 0 <= rank < world_size:
            raise ValueError(f"rank must be in [0, world_size), got rank {rank} of {world_size}")
        self.length = int(length)
        self.shuffle = shuffle
        self.seed = int(seed)
        self.rank, self.world_size = int(rank), int(world_size)
        self.epoch = 0
        self.start = 0

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        """The epoch of the next pass, and how many of this rank's items of it to skip."""
        self.epoch = int(epoch)
        self.start = int(start)

    def __len__(self) -> int:
        return max(0, -(-self.length // self.world_size) - self.start)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        generator = torch.Generator().manual_seed(_mix(self.seed, self.epoch))
        order = torch.randperm(self.length, generator=generator) if self.shuffle else torch.arange(self.length)
        seeds = torch.randint(0, SEED_RANGE, (self.length,), generator=generator)
        per_rank = -(-self.length // self.world_size)
        if self.world_size > 1 and self.length:
            positions = torch.arange(self.rank, per_rank * self.world_size, self.world_size) % self.length
            order, seeds = order[positions], seeds[positions]
        order, seeds = order[self.start:], seeds[self.start:]
        self.epoch += 1
        self.start = 0
        return iter(zip(order.tolist(), seeds.tolist(), strict=True))


def seed_worker(worker_id: int) -> None:
    """``worker_init_fn``: seed Python's and numpy's RNGs from the worker's torch seed (which the loader derives
    from its generator), so any library randomness in a worker is reproducible too."""
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)


def make_loader(
    dataset: Dataset,
    batch_size: int,
    *,
    shuffle: bool,
    workers: int,
    pin_memory: bool | None = None,
    seed: int = 0,
    drop_last: bool = False,
    persistent_workers: bool | None = None,
    prefetch_factor: int | None = None,
    rank: int = 0,
    world_size: int = 1,
) -> DataLoader:
    """A ``DataLoader`` for training or evaluation.

    Args:
        dataset: a dataset indexed by ``(index, item_seed)`` (``takes_item_seeds = True``, e.g.
            :class:`~helpers.depth.data.depth_dataset.DepthDataset`; seeded per item through :class:`SeededSampler`) or any
            map-style dataset (then shuffled by a generator seeded with ``seed``).
        batch_size: items per batch.
        shuffle: a new seeded permutation each epoch (training) or the dataset order (evaluation).
        workers: loader processes (0 = in the main process). Each decodes whole items; use about one per CPU core.
        pin_memory: page-locked batches for fast, asynchronous host → GPU copies
            (``.to("cuda", non_blocking=True)``); None = when CUDA is available.
        seed: seeds the order, the per-item augmentation and the workers' RNGs.
        drop_last: drop the last incomplete batch (training with BatchNorm).
        persistent_workers: keep workers alive between epochs; None = when ``workers > 0``.
        prefetch_factor: batches loaded in advance per worker (PyTorch's default 2 when None).
        rank, world_size: distributed training: this process's share of each epoch (:class:`SeededSampler`).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if workers < 0:
        raise ValueError(f"workers must be >= 0, got {workers}")
    if pin_memory is None:
        pin_memory = torch.cuda.is_available()
    if persistent_workers is None:
        persistent_workers = workers > 0
    generator = torch.Generator().manual_seed(int(seed))
    extra: dict[str, Any] = {}
    if workers > 0:
        extra["persistent_workers"] = persistent_workers
        if prefetch_factor is not None:
            extra["prefetch_factor"] = prefetch_factor
    if getattr(dataset, "takes_item_seeds", False):  # DepthDataset, LatentDataset: seeded per item
        extra["sampler"] = SeededSampler(len(dataset), shuffle=shuffle, seed=seed, rank=rank, world_size=world_size)
    elif world_size > 1:
        raise ValueError("distributed loading (world_size > 1) needs a dataset indexed by (index, item_seed) "
                         "(takes_item_seeds = True), which SeededSampler shards")
    else:
        extra["shuffle"] = shuffle
    return DataLoader(dataset, batch_size=batch_size, num_workers=workers, pin_memory=pin_memory,
                      drop_last=drop_last, worker_init_fn=seed_worker, generator=generator, **extra)
