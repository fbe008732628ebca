"""The training data feed: batches of a map-style dataset for one rank, loaded by worker processes while the
model computes, in pinned memory, prefetched, copied to the device without blocking; and how long training waited.

What the MLPerf references do with torch's DataLoader (ResNet-50's DALI/PyTorch loaders, 3D U-Net's and RetinaNet's
`DataLoader(num_workers=..., pin_memory=True)`), with the shard of each epoch per rank as DistributedSampler deals
it: every rank sees a disjoint slice of one seeded permutation, reshuffled each epoch. The feed never ends: a new
epoch starts when one is used up, so a workload asks for samples, not epochs.

`FeedStats` is the feed's own measure: samples delivered, and the time the training loop spent blocked waiting
for a batch. `wait_fraction` near 0 means loading overlapped compute; near 1, the loader is the bottleneck.
torch is imported on first use.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from podium.workloads.base import RunSpec

PREFETCH_BATCHES = 4   # per worker: enough to hide a slow batch behind a few fast ones


@dataclass
class FeedStats:
    """What a feed delivered and how long the loop waited for it; `busy_s` is the loop's time between waits."""

    samples: int = 0
    batches: int = 0
    wait_s: float = 0.0
    busy_s: float = 0.0

    @property
    def wait_fraction(self) -> float:
        total = self.wait_s + self.busy_s
        return self.wait_s / total if total > 0 else 0.0

    @property
    def samples_per_s(self) -> float:
        total = self.wait_s + self.busy_s
        return self.samples / total if total > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        return {"samples": self.samples, "batches": self.batches, "wait_s": round(self.wait_s, 3),
                "busy_s": round(self.busy_s, 3), "wait_fraction": round(self.wait_fraction, 4),
                "samples_per_s": round(self.samples_per_s, 2)}


def default_workers(spec: RunSpec) -> int:
    """Worker processes per rank: `spec.loader_workers`, else the cores left to this node's ranks after the ranks
    themselves, shared among them (at least one, at most 8)."""
    if spec.loader_workers is not None:
        return spec.loader_workers
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    ranks_here = min(spec.world_size, cores)
    return max(1, min(8, (cores - ranks_here) // ranks_here))


class Feed:
    """An endless iterator of this rank's batches of `dataset` (a torch map-style dataset), on `device`.

    `collate` turns a list of samples into a batch (torch's default stacks tensors and arrays); `to_device` moves
    one batch to the device (default: every tensor of a tensor, tuple, list or dict, non-blocking).
    """

    def __init__(self, dataset: Any, spec: RunSpec, *, device: Any, workers: int | None = None,
                 collate: Callable[[list[Any]], Any] | None = None,
                 to_device: Callable[[Any, Any], Any] | None = None) -> None:
        import torch
        from torch.utils.data import DataLoader, DistributedSampler

        self.torch, self.device = torch, device
        self.stats = FeedStats()
        self.epoch = 0
        self.sampler = DistributedSampler(dataset, num_replicas=spec.world_size, rank=spec.rank, shuffle=True,
                                          seed=spec.seed, drop_last=True)
        count = default_workers(spec) if workers is None else workers
        pin = device.type == "cuda"
        self.loader = DataLoader(
            dataset, batch_size=spec.per_rank_batch_size, sampler=self.sampler, num_workers=count,
            pin_memory=pin, drop_last=True, collate_fn=collate, persistent_workers=count > 0,
            prefetch_factor=PREFETCH_BATCHES if count > 0 else None,
            worker_init_fn=seed_worker if count > 0 else None,
            generator=torch.Generator().manual_seed(spec.seed + spec.rank))
        if len(self.loader) == 0:
            from podium.core.errors import ConfigError

            raise ConfigError(f"{len(dataset)} training samples make no batch of {spec.per_rank_batch_size} per "
                              f"rank on {spec.world_size} ranks")
        self._to_device = to_device or _move
        self._batches: Iterator[Any] = iter(())
        self._since: float | None = None

    def __iter__(self) -> Feed:
        return self

    def __next__(self) -> Any:
        start = time.perf_counter()
        if self._since is not None:
            self.stats.busy_s += start - self._since
        try:
            batch = next(self._batches)
        except StopIteration:
            self.sampler.set_epoch(self.epoch)
            self.epoch += 1
            self._batches = iter(self.loader)
            batch = next(self._batches)
        batch = self._to_device(batch, self.device)
        self._since = time.perf_counter()
        self.stats.wait_s += self._since - start
        self.stats.batches += 1
        self.stats.samples += _length(batch)
        return batch

    def close(self) -> None:
        """Stop the worker processes (a finished run must not leave them holding memory)."""
        self._batches = iter(())
        close_loader(self.loader)


def close_loader(loader: Any) -> None:
    """Stop a torch DataLoader's persistent worker processes, if it started any (torch has no public call)."""
    iterator = getattr(loader, "_iterator", None)
    if iterator is not None and hasattr(iterator, "_shutdown_workers"):
        iterator._shutdown_workers()


def seed_worker(worker: int) -> None:
    """Each worker's numpy and random generators from torch's per-worker seed (itself from the feed's seed), so that
    random augmentation differs across workers and repeats across runs of one seed."""
    import random

    import numpy as np
    import torch

    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)
    # A worker's augmentation must not compete with the training threads. (OpenCV's pool is left alone: resizing it
    # in a forked worker destroys condition variables the parent's threads held at the fork, and hangs.)
    torch.set_num_threads(1)


def _move(batch: Any, device: Any) -> Any:
    import torch

    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, (tuple, list)):
        return type(batch)(_move(b, device) for b in batch)
    if isinstance(batch, dict):
        return {k: _move(v, device) for k, v in batch.items()}
    return batch


def _length(batch: Any) -> int:
    first = batch
    while isinstance(first, (tuple, list)) and first:
        first = first[0]
    if isinstance(first, dict) and first:
        first = next(iter(first.values()))
    return len(first) if hasattr(first, "__len__") else 1
