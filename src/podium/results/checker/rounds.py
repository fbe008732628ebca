"""A round's constants as the checker reads them, from the benchmark registry (`podium.benchmarks`).

The registry is the one source of seeds, durations, query counts, latency bounds, targets, required scenarios and
audit tests (reference §0: rules, mlperf.conf and checker constants drift apart when kept separately). This module
only adapts its objects to the questions rules ask: which benchmark a result directory names (MLPerf directory
names carry the accuracy level, `bert-99.9`), which target applies, which scenarios a system type requires.
"""

from __future__ import annotations

import re
from typing import Any

from podium.core.errors import UnknownNameError

TARGET_SUFFIX = re.compile(r"(?P<base>.+)-(?P<level>99(?:\.9)?)")
SEED_NAMES = ("qsl_rng_seed", "sample_index_rng_seed", "schedule_rng_seed")


def resolve_round(name: str) -> Any:
    """The registry's round object; UnknownNameError (with a suggestion) for a name it does not know."""
    from podium.benchmarks import get_round

    return get_round(name)


def find_benchmark(round_obj: Any, directory_name: str) -> tuple[Any, str | None]:
    """(benchmark, accuracy level) for a results/<system>/<name>/ directory: the LoadGen model name
    (`resnet50`), the checker's name (`resnet`, `bert-99.9`) or an alias; the level is the variant's ("99.9"),
    or the name's suffix, or None."""
    try:
        benchmark = round_obj.benchmark(directory_name)
    except UnknownNameError:
        match = TARGET_SUFFIX.fullmatch(directory_name)
        if match is None:
            raise
        return round_obj.benchmark(match["base"]), match["level"]
    variant = getattr(round_obj, "variant", None)
    if variant is not None and directory_name != benchmark.name:
        return benchmark, variant(directory_name).level
    match = TARGET_SUFFIX.fullmatch(directory_name)
    return benchmark, match["level"] if match else None


Threshold = tuple[float | None, float | None]


def accuracy_target(benchmark: Any, level: str | None) -> Threshold | None:
    """(lower, upper) bound of the primary metric at an accuracy level ("99", "99.9"); either may be None.

    Without a level: the "99" target, or the only one. None when the registry has no bound (Podium's tiny round
    measures its reference at run time, so the run records the target it used).
    """
    targets = dict(getattr(benchmark, "targets", None) or {})
    if level is not None and level in targets:
        return _threshold(targets[level])
    if "99" in targets:
        return _threshold(targets["99"])
    if len(targets) == 1:
        return _threshold(next(iter(targets.values())))
    return None


def _threshold(value: Any) -> Threshold | None:
    if value is None:
        return None
    if isinstance(value, (tuple, list)) and len(value) == 2:
        low, high = (None if v is None else float(v) for v in value)
        return None if low is None and high is None else (low, high)
    return float(value), None


def accuracy_sample_count(benchmark: Any, scenario: str) -> int | None:
    """Samples an accuracy run must cover: the checker's accuracy sample count where the registry has one
    (per scenario or not), else the dataset size."""
    count = getattr(benchmark, "accuracy_sample_count", None)
    if hasattr(count, "get"):
        count = count.get(scenario)
    if count is None:
        count = getattr(benchmark, "dataset_size", None)
    return None if count is None else int(count)


def seeds(round_obj: Any) -> dict[str, int]:
    """{"qsl_rng_seed": ..., "sample_index_rng_seed": ..., "schedule_rng_seed": ...} of the round."""
    s = round_obj.seeds
    if isinstance(s, dict):
        return {n: int(s[n]) for n in SEED_NAMES}
    return {n: int(getattr(s, n)) for n in SEED_NAMES}


def required_scenarios(benchmark: Any, system_type: str) -> set[str]:
    """Scenario directory names a system of `system_type` ("datacenter", "edge", "datacenter,edge") must have.

    With the registry's `checker_scenarios` these are the checker's names (which include "Interactive") and
    its own list for systems of both categories; otherwise the union of `scenarios(category)` over the
    categories named.
    """
    kinds = [k.strip() for k in system_type.split(",") if k.strip()]
    if hasattr(benchmark, "checker_scenarios"):
        key = kinds[0] if len(kinds) == 1 else "datacenter_edge"
        return set(benchmark.checker_scenarios(key))
    out: set[str] = set()
    for kind in kinds:
        out.update(getattr(s, "value", str(s)) for s in benchmark.scenarios(kind))
    return out


def scenario_value(benchmark: Any, method: str, scenario: str) -> Any:
    """`benchmark.<method>(scenario)` with the Scenario enum (the registry's argument type); None when absent."""
    from podium.loadgen.settings import Scenario

    fn = getattr(benchmark, method, None)
    if fn is None:
        return None
    try:
        return fn(Scenario.parse(scenario))
    except (KeyError, ValueError):
        return None
