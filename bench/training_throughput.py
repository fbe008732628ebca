"""Training throughput (samples/s) through Podium's harness against a bare PyTorch loop of the same model,
optimizer, batch and data, for ResNet-50 and 3D U-Net at small sizes.

Harness: `podium.training.Campaign` runs the workload for `--epochs` epochs (its target made unreachable, one
evaluation at the end); samples/s is the epochs' training samples over the sum of their logged
`epoch_start`..`epoch_stop` spans (mllog times), which include waiting for the feed's worker processes.
Bare loop: a torch `DataLoader` with the same dataset class, worker count and worker set-up (one thread each),
batch size and shuffling, the same
network, optimizer, loss and learning-rate schedule call per step, written without any Podium harness code;
timed per epoch with perf_counter. Both run on the same generated data with the same torch threads. Runs
alternate (harness, bare, harness, ...) so that drift in the machine's load hits both, after one discarded pair of
one epoch each (imports, first allocations, the files into the page cache); the figure is the median of the
per-pair ratios (harness / bare samples/s). Target: within 2 %.

    python bench/training_throughput.py resnet50 --pairs 3 --epochs 2
    python bench/training_throughput.py 3d-unet --pairs 3 --epochs 2

Sizes: ResNet-50 is the full-width 50-layer network at 64x64 crops, batch 32, 10 generated classes of 32 images;
3D U-Net is the CI version's network (filters 4, 8, 16) at 32^3 crops, batch 2, on the generated KiTS19 layout.

Measured (2026-12-05; this project's 2-core CPU machine, otherwise idle; torch 2.13.0 CPU, 2 threads, one loader
worker; --pairs 5 --epochs 2):
- resnet50: harness 90.5-94.0 samples/s, bare 88.3-94.1; median ratio 1.0164 (+1.64 %; min 0.9776, max 1.0469)
- 3d-unet: harness 51.9-57.8 samples/s, bare 54.2-57.2; median ratio 1.0031 (+0.31 %; min 0.9372, max 1.0115)
Single pairs spread by +-5 %, so the bench bounds the harness's cost at about 2 % and resolves no systematic one.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from podium.training import Campaign, CampaignConfig
from podium.workloads.base import Division, QualityTarget, RunSpec, Workload
from podium.workloads.feed import default_workers, seed_worker


@dataclasses.dataclass(frozen=True)
class Case:
    """One benchmark at a small size: its workload (bound to data), overrides, batch, and its bare loop."""

    workload: Workload
    overrides: dict[str, Any]
    batch: int
    bare: Callable[[Workload, dict[str, Any], int, int, int], float]   # (w, hp, batch, epochs, seed) -> samples/s


def harness_samples_per_s(case: Case, epochs: int, seed: int, out: Path) -> float:
    never = QualityTarget(case.workload.quality.metric, target=2.0)   # the run trains all its epochs
    cadence = dataclasses.replace(case.workload.cadence, every=epochs, first=None)
    workload = dataclasses.replace(case.workload, quality=never, budget=epochs, cadence=cadence)
    config = CampaignConfig(runs=1, seed=seed, out=out, overrides=case.overrides, per_rank_batch_size=case.batch,
                            division=Division.OPEN, check_compliance=False, save_models=False)
    record = Campaign(workload, config).run().records[0]
    starts, spans = {}, []
    for line in Path(record.log_path).read_text().splitlines():
        event = json.loads(line.split(":::MLLOG", 1)[1])
        if event["key"] == "epoch_start":
            starts[event["metadata"]["epoch_num"]] = event["time_ms"]
        elif event["key"] == "epoch_stop":
            spans.append(event["time_ms"] - starts[event["metadata"]["epoch_num"]])
    samples = len(spans) * (case.workload.train_samples // case.batch) * case.batch
    return samples / (sum(spans) / 1000)


def bare_loop(dataset: Any, model: Any, optimizer: Any, loss_of: Callable[[Any, Any], Any],
              lr_at: Callable[[int], float], batch: int, epochs: int, seed: int) -> float:
    """The plain loop: DataLoader (same workers, shuffled, drop_last), forward, loss, backward, step."""
    import torch
    from torch.utils.data import DataLoader

    workers = default_workers(RunSpec(seed=seed, hyperparameters={}, per_rank_batch_size=batch))
    loader = DataLoader(dataset, batch_size=batch, shuffle=True, drop_last=True, num_workers=workers,
                        persistent_workers=workers > 0, generator=torch.Generator().manual_seed(seed),
                        worker_init_fn=seed_worker if workers > 0 else None)
    model.train()
    warm_up = torch.zeros((batch, *dataset[0][0].shape))   # as the harness's untimed init: lazy kernels first
    model(warm_up).float().sum().backward()
    optimizer.zero_grad(set_to_none=True)
    samples, seconds, step = 0, 0.0, 0
    for _ in range(epochs):
        start = time.perf_counter()
        for inputs, targets in loader:
            for group in optimizer.param_groups:
                group["lr"] = lr_at(step)
            optimizer.zero_grad(set_to_none=True)
            loss = loss_of(model(inputs), targets)
            loss.backward()
            optimizer.step()
            float(loss.detach())   # the harness reads each step's loss too
            samples += len(targets)
            step += 1
        seconds += time.perf_counter() - start
    return samples / seconds


def resnet50_case(data: Path) -> Case:
    from podium.datasets.imagenet_folders import generate
    from podium.workloads.resnet50 import resnet50_workload

    if not (data / "train").is_dir():
        generate(data)
    overrides = {"lars_opt_base_learning_rate": 2.0, "lars_opt_learning_rate_decay_steps": 200,
                 "lars_opt_learning_rate_warmup_epochs": 1}
    return Case(resnet50_workload("lars", image_size=64, width=64).with_data(data), overrides, 32, resnet50_bare)


def resnet50_bare(workload: Workload, hp: dict[str, Any], batch: int, epochs: int, seed: int) -> float:
    import torch

    from podium.datasets.imagenet_folders import TrainImages
    from podium.models.resnet50 import resnet50
    from podium.workloads.optim import PolySchedule, lars

    train, _ = workload.datasets()
    torch.manual_seed(seed)
    model = resnet50(classes=int(train.labels.max()) + 1, width=64)
    optimizer = lars(model.parameters(), lr=hp["lars_opt_base_learning_rate"], momentum=hp["lars_opt_momentum"],
                     weight_decay=hp["lars_opt_weight_decay"], epsilon=hp["lars_epsilon"])
    schedule = PolySchedule(hp["lars_opt_base_learning_rate"],
                            math.ceil(hp["lars_opt_learning_rate_warmup_epochs"] * len(train) / batch),
                            hp["lars_opt_learning_rate_decay_steps"])

    def loss_of(logits: Any, labels: Any) -> Any:
        return torch.nn.functional.cross_entropy(logits.float(), labels, label_smoothing=hp["label_smoothing"])

    return bare_loop(TrainImages(train, 64), model, optimizer, loss_of, schedule, batch, epochs, seed)


def unet3d_case(data: Path) -> Case:
    from podium.datasets.kits19_training import generate
    from podium.workloads import WORKLOADS
    from podium.workloads.unet3d import ci_variant

    if not data.is_dir():
        generate(data)
    workload = ci_variant(WORKLOADS.get("3d-unet").with_data(data))
    return Case(workload, {}, workload.recipe.per_rank_batch_size, unet3d_bare)


def unet3d_bare(workload: Workload, hp: dict[str, Any], batch: int, epochs: int, seed: int) -> float:
    import torch

    from podium.workloads.unet3d import TrainingVolumes, build_ci_model, build_optimizer, learning_rate, loss_fn

    split = workload.datasets()
    torch.manual_seed(seed)
    model = build_ci_model()
    optimizer = build_optimizer(model.parameters(), hp)
    steps_per_epoch = len(split.train) // batch
    volumes = TrainingVolumes(split.train, hp["training_input_shape"], hp["oversampling"])
    return bare_loop(volumes, model, optimizer, loss_fn, lambda step: learning_rate(step // steps_per_epoch + 1, hp),
                     batch, epochs, seed)


CASES: dict[str, Callable[[Path], Case]] = {"resnet50": resnet50_case, "3d-unet": unet3d_case}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("case", choices=sorted(CASES))
    p.add_argument("--pairs", type=int, default=3)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--data", type=Path, help="generated data folder (default: a temporary one)")
    args = p.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        case = CASES[args.case](args.data or Path(tmp) / "data")
        hp = case.workload.recipe.resolve(case.overrides, Division.OPEN)
        print(f"{args.case}: torch {torch.__version__}, {args.threads} threads, batch {case.batch}, "
              f"{case.workload.train_samples} samples per epoch, {args.epochs} epochs per run")
        harness_samples_per_s(case, 1, args.seed, Path(tmp) / "warm")   # discarded: imports, first allocations,
        case.bare(case.workload, hp, case.batch, 1, args.seed)            # the images into the page cache
        ratios = []
        for i in range(args.pairs):
            h = harness_samples_per_s(case, args.epochs, args.seed, Path(tmp) / f"out{i}")
            b = case.bare(case.workload, hp, case.batch, args.epochs, args.seed)
            ratios.append(h / b)
            print(f"pair {i + 1}: harness {h:.2f} samples/s, bare {b:.2f} samples/s, ratio {h / b:.4f}")
    print(f"\n{args.case}: harness / bare samples/s, median of {args.pairs} pairs: {statistics.median(ratios):.4f} "
          f"({(statistics.median(ratios) - 1) * 100:+.2f} %; min {min(ratios):.4f}, max {max(ratios):.4f})")


if __name__ == "__main__":
    main()
