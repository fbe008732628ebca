"""Where a training campaign's files go: MLPerf Training's submission layout, plus Podium's own records.

    <out>/systems/<system>.json                          system description (package checker's 33 fields)
    <out>/results/<system>/<benchmark>/result_<i>.txt    one mllog per run (MLPerf layout)
    <out>/podium/<system>/<benchmark>/campaign.json      Podium's record of the campaign (schema_version)
    <out>/models/<system>/<benchmark>/run_<i>/           trained model: model.pt, model.onnx
    <out>/podium/rules/                                  Podium's rule files as given to the checker

A campaign replaces the benchmark's folders (results, record, models) only when it finishes: it writes them
under `<out>/.podium/staging/` and swaps them in at the end (`podium.core.outdir.Staged`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

from podium.core import layout
from podium.core.host import NOT_DETECTED, installed_version, probe_host
from podium.core.outdir import Staged
from podium.workloads.base import Division

# Fields system_desc_checker requires (mlperf_logging 4.1.68; reference §4.4); empty strings are accepted.
SYSTEM_FIELDS = (
    "submitter", "division", "status", "system_name", "number_of_nodes", "host_processors_per_node",
    "host_processor_model_name", "host_processor_core_count", "host_processor_vcpu_count",
    "host_processor_frequency", "host_processor_caches", "host_processor_interconnect", "host_memory_capacity",
    "host_storage_type", "host_storage_capacity", "host_networking", "host_networking_topology",
    "host_memory_configuration", "accelerators_per_node", "accelerator_model_name",
    "accelerator_host_interconnect", "accelerator_frequency", "accelerator_on-chip_memories",
    "accelerator_memory_configuration", "accelerator_memory_capacity", "accelerator_interconnect",
    "accelerator_interconnect_topology", "cooling", "hw_notes", "framework", "other_software_stack",
    "operating_system", "sw_notes",
)


@dataclass(frozen=True)
class SubmissionLayout:
    """Paths of one campaign's files under `out`.

    The benchmark's three folders (`results`, `record`, `models`) can be placed elsewhere (`placed`): a
    campaign writes into staging folders and, if it does not finish, its files end up under partial/.
    """

    out: Path
    system: str
    benchmark: str
    results_at: Path | None = None
    record_at: Path | None = None
    models_at: Path | None = None

    def result_log(self, index: int) -> Path:
        return self.results_dir / f"result_{index}.txt"

    @property
    def results_dir(self) -> Path:
        return self.results_at or layout.training_dir(self.out, self.system, self.benchmark)

    @property
    def record_dir(self) -> Path:
        return self.record_at or self.out / layout.PODIUM / self.system / self.benchmark

    @property
    def campaign_record(self) -> Path:
        return self.record_dir / layout.CAMPAIGN_RECORD

    @property
    def rules_dir(self) -> Path:
        return self.out / "podium" / "rules"

    @property
    def models_dir(self) -> Path:
        return self.models_at or self.out / "models" / self.system / self.benchmark

    def model_dir(self, index: int) -> Path:
        return self.models_dir / f"run_{index}"

    @property
    def system_description(self) -> Path:
        return layout.system_description(self.out, self.system)

    def benchmark_dirs(self, models: bool = True) -> dict[str, Path]:
        """The folders holding this benchmark's files, which a campaign replaces as a whole (record last)."""
        dirs = {"results": self.results_dir, "models": self.models_dir} if models else {"results": self.results_dir}
        return {**dirs, "record": self.record_dir}

    def placed(self, dirs: dict[str, Path]) -> SubmissionLayout:
        """This layout with some of `benchmark_dirs` somewhere else."""
        return replace(self, **{f"{name}_at": Path(path) for name, path in dirs.items()})

    def moved(self, path: str | None, to: SubmissionLayout) -> str | None:
        """Where `path`, a file in one of this layout's benchmark folders, is in layout `to`."""
        if path is None:
            return None
        for name, here in self.benchmark_dirs().items():
            if Path(path).is_relative_to(here):
                return str(to.benchmark_dirs()[name] / Path(path).relative_to(here))
        return path


class StagedLayout:
    """The benchmark's folders staged under the locked `out` (`outdir.Staged`, one per folder): `commit` swaps
    them all in; `abandon` gathers them under one `<out>/.podium/partial/<run id>/` and leaves the previous
    results as they were. `layout` is where the campaign writes meanwhile."""

    def __init__(self, final: SubmissionLayout, models: bool = True) -> None:
        self.final = final
        self._stages: dict[str, Staged] = {}
        try:
            for name, path in final.benchmark_dirs(models).items():
                self._stages[name] = Staged(path, final.out)
        except BaseException:
            self.abandon()
            raise
        self.layout = final.placed({name: st.path for name, st in self._stages.items()})

    def commit(self) -> None:
        for stage in self._stages.values():
            stage.commit()

    def abandon(self) -> SubmissionLayout:
        """Keep the staged files under partial/, in one folder for the campaign; return the layout placed where
        they are (a folder left unplaced was committed, or not kept)."""
        where: dict[str, Path] = {}
        home: Path | None = None
        for name, stage in self._stages.items():
            kept = stage.abandon()
            if kept is None:
                continue
            if stage.partial is not None:      # moved to partial/<its run id>/<relative>
                own = kept.parents[len(stage.relative.parts) - 1]
                home = home or own
                kept = _gather(kept, own, home / stage.relative)
            where[name] = kept                 # else left in staging, where the next run will find it
        return self.final.placed(where)


def _gather(kept: Path, own: Path, target: Path) -> Path:
    """Move `kept` (below `own`, its partial/<run id>/) to `target`, beside the campaign's other partial
    folders, and remove what it leaves empty."""
    if kept == target:
        return kept
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        os.rename(kept, target)
    except OSError:
        return kept
    for folder in kept.parents:
        try:
            folder.rmdir()
        except OSError:
            break
        if folder == own:
            break
    return target


def system_description(org: str, system: str, division: Division, nodes: int = 1, ranks_per_node: int = 1,
                       framework: str | None = None, accelerator: str | None = None) -> dict[str, str]:
    """A system description the package checker accepts, filled with what this host reveals (`core.host`:
    processor, memory, storage, network, OS, software); `accelerator`: the name of the device each rank trains
    on (one per rank), None on CPUs; `framework` defaults to the PyTorch installed. What cannot be detected is
    "N/A", for a person to fill in."""
    facts = probe_host()
    desc = {name: str(facts.get(name, "")) for name in SYSTEM_FIELDS}
    torch_version = installed_version("torch")
    desc.update({
        "submitter": org, "division": division.value, "status": "Available on-premise", "system_name": system,
        "number_of_nodes": str(nodes), "host_processors_per_node": str(facts.get("host_processors_per_node") or 1),
        "accelerators_per_node": "0", "accelerator_model_name": NOT_DETECTED,
        "framework": framework if framework is not None else (f"PyTorch {torch_version}" if torch_version else ""),
        "sw_notes": f"podium; {ranks_per_node} training process(es) per node",
    })
    for name in ("cooling", "host_memory_configuration", "host_networking_topology", "host_processor_interconnect"):
        desc[name] = desc[name] or NOT_DETECTED
    if accelerator is not None:
        desc.update({"accelerators_per_node": str(ranks_per_node), "accelerator_model_name": accelerator})
    return desc
