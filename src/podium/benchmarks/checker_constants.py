"""The per-round constants a submission checker needs, derived from the registry.

The dictionary has the shape of the official checker's per-version table (tools/submission/
submission_checker/constants.py MODEL_CONFIG), keyed by checker names ("resnet", "bert-99.9"), plus a few
keys the official keeps elsewhere or not at all: "loadgen-model" (checker name -> LoadGen model name),
"equal-issue" (checker names whose LoadGen runs use equal-issue mode) and "token-latencies" ({"ttft_ns",
"tpot_ns"} of the LLMs bounded per token). Audit tests appear as "models_TEST01" etc., for every round (the
official table has them from v5.0; earlier rounds come from each round's checker code).
"required-scenarios-datacenter-edge" is the union of a variant's categories unless the round file states the
checker's own list. Accuracy bounds are `reference * fraction`, computed as the checker computes them; a
reference measured at run time (tiny round) gives None.
"""

from __future__ import annotations

from typing import Any

from podium.benchmarks.benchmark import Benchmark, Category, Target, Variant
from podium.benchmarks.catalogue import Round, Seeds

__all__ = ["checker_constants"]

_CATEGORY_KEYS = ("datacenter", "edge", "datacenter-edge")


def checker_constants(round: Round) -> dict[str, Any]:  # noqa: A002 - a Round, as in the contract
    """Checker constants of `round`; see the module docstring."""
    pairs = list(_checker_variants(round))
    out: dict[str, Any] = {"version": round.name, "models": [v.name for _, v in pairs]}
    out.update(_scenario_tables(pairs))
    out.update(_accuracy_tables(pairs))
    out["performance-sample-count"] = {v.name: b.performance_sample_count for b, v in pairs}
    out["accuracy-sample-count"] = {v.name: _plain(b.accuracy_sample_count) for b, v in pairs
                                    if b.accuracy_sample_count is not None}
    out["dataset-size"] = {v.name: b.dataset_size for b, v in pairs if b.dataset_size is not None}
    out["model_mapping"] = dict(round.aliases)
    out["seeds"] = _seed_dict(round.seeds)
    if round.test05_seeds is not None:
        out["test05_seeds"] = _seed_dict(round.test05_seeds)
    out["latency-constraint"] = {v.name: dict(b.checker_latency_ns) for b, v in pairs if b.checker_latency_ns}
    out["min-queries"] = {v.name: dict(b.checker_min_queries) for b, v in pairs if b.checker_min_queries}
    for test in sorted({t for b, _ in pairs for t in b.audit_tests}):
        out[f"models_{test}"] = [v.name for b, v in pairs if test in b.audit_tests]
    out.update(_loadgen_tables(pairs))
    return out


def _checker_variants(r: Round) -> list[tuple[Benchmark, Variant]]:
    """(benchmark, variant) for every checker name, skipping "-interactive" models that only share their
    parent's variants."""
    pairs = []
    for b in r.benchmarks:
        parent = r.benchmark(b.interactive_of) if b.interactive_of else None
        if parent is not None and b.variants == parent.variants:
            continue
        pairs += [(b, v) for v in b.variants]
    return pairs


def _scenario_tables(pairs: list[tuple[Benchmark, Variant]]) -> dict[str, dict[str, list[str]]]:
    out: dict[str, dict[str, list[str]]] = {}
    for kind in ("required", "optional"):
        for key in _CATEGORY_KEYS:
            table = {}
            for b, v in pairs:
                names = _variant_scenarios(b, v, key, optional=kind == "optional")
                if names:
                    table[v.name] = list(names)
            out[f"{kind}-scenarios-{key}"] = table
    return out


def _variant_scenarios(b: Benchmark, v: Variant, key: str, *, optional: bool) -> tuple[str, ...]:
    """The checker scenarios of one variant: a variant may exist in fewer categories than its benchmark."""
    categories = v.categories or tuple(Category)
    if key != "datacenter-edge":
        return b.checker_scenarios(key, optional=optional) if Category(key) in categories else ()
    stated = (b.optional if optional else b.required).get("datacenter_edge")
    if stated is not None:
        return stated
    both = [s for c in categories for s in b.checker_scenarios(c, optional=optional)]
    return tuple(dict.fromkeys(both))


def _accuracy_tables(pairs: list[tuple[Benchmark, Variant]]) -> dict[str, dict[str, Any]]:
    target: dict[str, Any] = {}
    upper: dict[str, Any] = {}
    for _, v in pairs:
        target[v.name] = _bounds([t for t in v.targets if t.fraction is not None or t.minimum_value is not None],
                                 Target.minimum)
        maxima = _bounds([t for t in v.targets if t.maximum() is not None], Target.maximum)
        if maxima:
            upper[v.name] = maxima
    delta = {v.name: dict(v.delta_percent) for _, v in pairs if v.delta_percent}
    return {"accuracy-target": target, "accuracy-upper-limit": upper, "accuracy-delta-perc": delta}


def _bounds(targets: list[Target] | tuple[Target, ...], bound: Any) -> tuple[Any, ...] | dict[str, tuple]:
    """(metric, value, metric, value, ...); per checker scenario where targets name one."""
    if any(t.scenario for t in targets):
        scenarios = dict.fromkeys(t.scenario for t in targets if t.scenario)
        return {s: _flat([t for t in targets if t.scenario == s], bound) for s in scenarios}
    return _flat(targets, bound)


def _flat(targets: list[Target] | tuple[Target, ...], bound: Any) -> tuple[Any, ...]:
    return tuple(x for t in targets for x in (t.metric, bound(t)))


def _loadgen_tables(pairs: list[tuple[Benchmark, Variant]]) -> dict[str, Any]:
    tokens = {v.name: {"ttft_ns": b.ttft_ns, "tpot_ns": b.tpot_ns} for b, v in pairs if b.uses_token_latencies}
    return {
        "loadgen-model": {v.name: b.name for b, v in pairs},
        "equal-issue": [v.name for b, v in pairs if b.equal_issue],
        "token-latencies": tokens,
    }


def _seed_dict(seeds: Seeds) -> dict[str, int]:
    return {"qsl_rng_seed": seeds.qsl_rng_seed, "sample_index_rng_seed": seeds.sample_index_rng_seed,
            "schedule_rng_seed": seeds.schedule_rng_seed}


def _plain(value: Any) -> Any:
    return dict(value) if hasattr(value, "items") else value
