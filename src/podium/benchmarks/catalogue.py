"""The rounds of MLPerf Inference (v0.5 ... v6.1) and Podium's tiny round, loaded from rounds/*.toml.

`get_round(name)` returns a frozen `Round`; `find_benchmark(name)` accepts a LoadGen model name ("resnet50"),
a checker name ("resnet", "bert-99.9") or a checker alias ("ssd-resnet34") and returns the `Benchmark`.
Unknown names raise `UnknownNameError` with the nearest names.
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from podium.benchmarks.benchmark import Benchmark, Category, Target, Variant, conf_settings
from podium.benchmarks.datafile import SCENARIO_KEYS, SEED_KEYS, load_round_tables
from podium.core.errors import ConfigError, UnknownNameError
from podium.loadgen.settings import Scenario

__all__ = [
    "DATA_DIR",
    "LATEST_ROUND",
    "ROUND_NAMES",
    "Round",
    "Seeds",
    "TINY_ROUND",
    "find_benchmark",
    "get_round",
    "load_rounds",
    "rounds",
]

DATA_DIR = Path(__file__).with_name("rounds")
ROUND_NAMES = ("v0.5", "v0.7", "v1.0", "v1.1", "v2.0", "v2.1", "v3.0", "v3.1", "v4.0", "v4.1", "v5.0", "v5.1",
               "v6.0", "v6.1", "tiny-v1")
LATEST_ROUND = "v6.1"
TINY_ROUND = "tiny-v1"


@dataclass(frozen=True)
class Seeds:
    """The round's published RNG seeds (mlperf.conf `*.*.<name>`)."""

    qsl_rng_seed: int
    sample_index_rng_seed: int
    schedule_rng_seed: int


@dataclass(frozen=True)
class Round:
    """One round: its benchmarks, seeds and complete mlperf.conf (`conf`, in rendering order)."""

    name: str
    loadgen_version: str
    seeds: Seeds
    benchmarks: tuple[Benchmark, ...]
    conf: Mapping[str, str] = field(repr=False)
    test05_seeds: Seeds | None = None
    retired: Mapping[str, str] = field(default_factory=dict)  # conf-only model -> why it is not a benchmark
    aliases: Mapping[str, str] = field(default_factory=dict)  # checker model_mapping: other name -> name
    notes: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()

    def __hash__(self) -> int:  # mapping fields are not hashable; the name identifies a round
        return hash(self.name)

    def benchmark(self, name: str) -> Benchmark:
        """By LoadGen model name, checker (variant) name or alias; UnknownNameError otherwise."""
        found = self._find(name)
        if found is None:
            known = sorted(_names(self.benchmarks))
            close = difflib.get_close_matches(name, known + sorted(self.aliases), n=3, cutoff=0.5)
            why = f"; it is in this round's mlperf.conf only: {self.retired[name]}" if name in self.retired else ""
            raise UnknownNameError(f"round {self.name} has no benchmark {name!r}{why}; known: {', '.join(known)}",
                                   suggestion=" or ".join(close) if close else None)
        return found

    def variant(self, name: str) -> Variant:
        """A checker name ("bert-99.9") or alias -> its Variant."""
        bench = self.benchmark(name)
        checker_name = self.aliases.get(name, name)
        return next((v for v in bench.variants if v.name == checker_name), bench.variants[0])

    def conf_models(self) -> tuple[str, ...]:
        """Every model named in the round's mlperf.conf, benchmarks and retired entries alike."""
        return tuple(dict.fromkeys(k.rsplit(".", 2)[0] for k in self.conf if not k.startswith("*.")))

    def settings(self, model: str, scenario: Scenario | str) -> dict[str, str]:
        """The mlperf.conf keys for any model (also a retired one, or an unknown one: the '*' keys)."""
        s = scenario.value if isinstance(scenario, Scenario) else Scenario.parse(scenario).value
        return conf_settings(self.conf, model, s)

    def _find(self, name: str) -> Benchmark | None:
        name = self.aliases.get(name, name)
        for b in self.benchmarks:
            if b.name == name:
                return b
        # a checker name belongs to the benchmark it was written for, not to an "-interactive" model that
        # shares its variants
        ordered = sorted(self.benchmarks, key=lambda b: b.interactive_of is not None)
        return next((b for b in ordered if any(v.name == name for v in b.variants)), None)


# ---- lookups -------------------------------------------------------------------------------------------------


def rounds() -> tuple[str, ...]:
    """Round names, oldest first; Podium's tiny round last."""
    return ROUND_NAMES


def get_round(name: str) -> Round:
    """The round called `name` ("v6.1", "tiny-v1"); UnknownNameError with a suggestion otherwise."""
    loaded = _default_rounds()
    if name not in loaded:
        close = difflib.get_close_matches(name, list(loaded), n=2, cutoff=0.5)
        raise UnknownNameError(f"unknown round {name!r}; known: {', '.join(loaded)}",
                               suggestion=" or ".join(close) if close else None)
    return loaded[name]


def find_benchmark(name: str, round: str | None = None) -> Benchmark:  # noqa: A002 - the contract's name
    """A benchmark by LoadGen, checker or alias name, in `round`, or else in the newest round that has it (the
    tiny round included): by its own name if a round has one of that name, else as a variant or alias."""
    if round is not None:
        return get_round(round).benchmark(name)
    order = (TINY_ROUND, *reversed(ROUND_NAMES[:-1]))
    # A benchmark's own name first: a newer round's alias of it ("ssd-resnet34" -> retinanet, "mobilenet" ->
    # resnet, as the checker maps later submissions) does not stand for the benchmark itself.
    for r in order:
        own = next((b for b in get_round(r).benchmarks if b.name == name), None)
        if own is not None:
            return own
    for r in order:
        found = get_round(r)._find(name)
        if found is not None:
            return found
    known = sorted({n for r in order for n in _names(get_round(r).benchmarks)})
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    raise UnknownNameError(f"no round has a benchmark {name!r}", suggestion=" or ".join(close) if close else None)


def _names(benches: tuple[Benchmark, ...]) -> set[str]:
    """LoadGen and checker names of some benchmarks."""
    return {n for b in benches for n in (b.name, *(v.name for v in b.variants))}


@functools.cache
def _default_rounds() -> dict[str, Round]:
    return load_rounds(DATA_DIR)


def load_rounds(directory: Path) -> dict[str, Round]:
    """Build every round of a data directory (tests load broken copies with this)."""
    tables = load_round_tables(directory)
    order = [n for n in ROUND_NAMES if n in tables] + sorted(set(tables) - set(ROUND_NAMES))
    return {name: _build_round(name, tables[name], directory) for name in order}


# ---- building ----------------------------------------------------------------------------------------------


def _build_round(name: str, t: Mapping[str, Any], directory: Path) -> Round:
    conf = MappingProxyType(_round_conf(t))
    benches = t["benchmarks"]
    built = tuple(_build_benchmark(n, _with_parent(n, benches, directory), name, conf)
                  for n, b in benches.items() if "retired" not in b)
    aliases = dict(t.get("aliases", {}))
    for alias, target in aliases.items():
        if not any(target in (b.name, *(v.name for v in b.variants)) for b in built):
            raise ConfigError(f"alias {alias!r} names no benchmark or variant {target!r}",
                              path=str(directory / f"{name}.toml"), key=f"aliases.{alias}")
    return Round(
        name=name, loadgen_version=t["loadgen_version"], seeds=_seeds(t["seeds"]), benchmarks=built,
        conf=conf, test05_seeds=_seeds(t["test05_seeds"]) if "test05_seeds" in t else None,
        retired=MappingProxyType({n: b["retired"] for n, b in benches.items() if "retired" in b}),
        aliases=MappingProxyType(aliases), notes=tuple(t.get("notes", ())), sources=tuple(t.get("sources", ())))


def _round_conf(t: Mapping[str, Any]) -> dict[str, str]:
    """mlperf.conf lines in rendering order: seeds, '*' lines, then each model's lines."""
    conf = {f"*.*.{k}": t["seeds"][k] for k in SEED_KEYS}
    # before v3.0 the TEST05 seeds lived in TEST05's audit.config, not in mlperf.conf
    if "test05_seeds" in t and t.get("test05_seeds_in_conf", True):
        conf.update({f"*.*.test05_{k}": t["test05_seeds"][k] for k in SEED_KEYS})
    conf.update(_model_lines("*", t.get("conf", {})))
    for model, bench in t["benchmarks"].items():
        conf.update(_model_lines(model, bench.get("conf", {})))
    return conf


def _model_lines(model: str, table: Mapping[str, Mapping[str, str]]) -> dict[str, str]:
    return {f"{model}.{s}.{k}": v for s in SCENARIO_KEYS for k, v in table.get(s, {}).items()}


def _with_parent(name: str, benches: Mapping[str, Any], directory: Path) -> dict[str, Any]:
    """An "-interactive" entry takes what it does not state from the benchmark it belongs to."""
    bench = dict(benches[name])
    parent = bench.get("interactive_of")
    if parent is not None:
        if parent not in benches:
            raise ConfigError(f"interactive_of names no benchmark {parent!r}", path=str(directory),
                              key=f"benchmarks.{name}.interactive_of")
        for key, value in benches[parent].items():
            if key not in ("conf", "interactive_model", "notes", "scenarios", "optional_scenarios"):
                bench.setdefault(key, value)
    return bench


def _build_benchmark(name: str, b: Mapping[str, Any], round_name: str, conf: Mapping[str, str]) -> Benchmark:
    variants = tuple(_build_variant(n, v) for n, v in b["variants"].items())
    checker = b.get("checker", {})
    reference = b.get("reference_accuracy")
    if reference is None and variants and variants[0].targets:
        reference = variants[0].targets[0].reference
    return Benchmark(
        name=name, round_name=round_name, model=b["model"], dataset=b["dataset"],
        dataset_size=b.get("dataset_size"), performance_sample_count=b["performance_sample_count"],
        metric=b["metric"], metric_units=b["metric_units"], reference_accuracy=reference, variants=variants,
        audit_tests=tuple(b.get("audit_tests", ())), required=_scenario_table(b.get("scenarios", {})),
        optional=_scenario_table(b.get("optional_scenarios", {})), conf=conf,
        reference_measured_at_run_time=b.get("reference_measured_at_run_time", False),
        checker_min_queries=MappingProxyType(dict(checker.get("min_queries", {}))),
        checker_latency_ns=MappingProxyType(dict(checker.get("latency_ns", {}))),
        accuracy_sample_count=checker.get("accuracy_sample_count"),
        interactive_of=b.get("interactive_of"), interactive_model=b.get("interactive_model"),
        notes=tuple(b.get("notes", ())))


def _build_variant(name: str, v: Mapping[str, Any]) -> Variant:
    targets = tuple(Target(metric=t["metric"], reference=t.get("reference"), fraction=t.get("fraction"),
                           max_fraction=t.get("max_fraction"), minimum_value=t.get("min"),
                           maximum_value=t.get("max"), scenario=t.get("scenario")) for t in v["targets"])
    return Variant(name=name, targets=targets, categories=tuple(Category(c) for c in v.get("categories", ())),
                   delta_percent=MappingProxyType(dict(v.get("delta_percent", {}))))


def _scenario_table(table: Mapping[str, list[str]]) -> Mapping[str, tuple[str, ...]]:
    return MappingProxyType({k: tuple(v) for k, v in table.items()})


def _seeds(table: Mapping[str, str]) -> Seeds:
    return Seeds(*(int(table[k]) for k in SEED_KEYS))
