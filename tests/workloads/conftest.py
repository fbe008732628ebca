"""What the tiny workloads' tests share: a private cache for the generated splits, and one run of a workload's
program driven as the training harness drives it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(scope="module")
def private_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The generated splits go to a temporary cache, shared by a test module's tests."""
    path = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PODIUM_CACHE_DIR", str(path))
        yield path


def drive(name: str, seed: int) -> tuple[Any, list[tuple[int, float]]]:
    """One run of workload `name`'s program as the harness drives it (evaluations at the cadence's boundaries, its
    first one included, until the target or the budget): the program and its (samples trained, score) pairs."""
    from podium.workloads import WORKLOADS
    from podium.workloads.base import RunSpec

    workload = WORKLOADS.get(name)
    hp = {h.name: h.value for h in workload.recipe.hyperparameters}
    spec = RunSpec(seed=seed, hyperparameters=hp, per_rank_batch_size=workload.recipe.per_rank_batch_size)
    workload.prepare()
    program = workload.program(workload, spec)
    program.build()
    program.load_data()
    scores: list[tuple[int, float]] = []
    done = 0
    for boundary in workload.cadence.boundaries(workload.budget):
        program.train(boundary - done)
        done = boundary
        scores.append((done, program.evaluate()))
        if workload.quality.reached(scores[-1][1]):
            break
    return program, scores
