"""One benchmark of one MLPerf Inference round: what it runs, the accuracy it must reach, the rules it runs under.

A `Benchmark` is named after the LoadGen model name of its round's mlperf.conf ("resnet50", "bert",
"llama2-70b"); the submission checker's names ("resnet", "bert-99", "bert-99.9") are its `variants`, each with
its own accuracy targets. Everything LoadGen reads (durations, query counts, latency bounds, percentiles,
equal issue) is derived from the round's mlperf.conf lines (`settings`), so the registry and the rendered
mlperf.conf cannot disagree; what only the checker knows (its minimum query counts and latency
constraints, required scenarios) is kept beside it.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

from podium.core.errors import UnknownNameError
from podium.loadgen.settings import Scenario

__all__ = ["Benchmark", "Category", "INTERACTIVE", "Target", "Variant", "conf_settings"]

# The checker's name for a Server run of a benchmark's "-interactive" LoadGen model (v5.0+).
INTERACTIVE = "Interactive"

# LoadGen TestSettings defaults (mlperf_loadgen 6.0.17), used where mlperf.conf sets nothing.
_DEFAULT_MIN_DURATION_MS = 10_000
_DEFAULT_MIN_QUERY_COUNT = 100
_DEFAULT_PERCENTILE = {Scenario.SINGLE_STREAM: 90.0, Scenario.MULTI_STREAM: 99.0, Scenario.SERVER: 99.0}
_DEFAULT_SAMPLES_PER_QUERY = 8
_DEFAULT_TOKEN_LATENCY_NS = 100_000_000  # server_ttft_latency / server_tpot_latency
_NS_PER_MS = 1_000_000


class Category(enum.Enum):
    """MLPerf Inference system categories."""

    DATACENTER = "datacenter"
    EDGE = "edge"

    @classmethod
    def parse(cls, value: Category | str) -> Category:
        if isinstance(value, Category):
            return value
        for c in cls:
            if c.value == str(value).lower():
                return c
        raise UnknownNameError(f"unknown category {value!r}; known: datacenter, edge",
                               suggestion="datacenter" if str(value).lower().startswith("d") else "edge")


@dataclass(frozen=True)
class Target:
    """One accuracy bound on one metric, as the checker states it (`metric` is the checker's key).

    The bound is `reference * fraction` (and `reference * max_fraction` above), or the absolute `minimum` /
    `maximum`. `reference` None with a fraction: the reference is measured at run time (Podium's tiny round).
    `scenario` restricts the bound to one checker scenario (e.g. "Interactive").
    """

    metric: str
    reference: float | None = None
    fraction: float | None = None
    max_fraction: float | None = None
    minimum_value: float | None = None
    maximum_value: float | None = None
    scenario: str | None = None

    def minimum(self, reference: float | None = None) -> float | None:
        """The lower bound; `reference` stands in for a reference measured at run time."""
        if self.minimum_value is not None:
            return self.minimum_value
        ref = self.reference if self.reference is not None else reference
        return None if ref is None or self.fraction is None else ref * self.fraction

    def maximum(self, reference: float | None = None) -> float | None:
        """The upper bound, if any."""
        if self.maximum_value is not None:
            return self.maximum_value
        ref = self.reference if self.reference is not None else reference
        return None if ref is None or self.max_fraction is None else ref * self.max_fraction


@dataclass(frozen=True)
class Variant:
    """A submission-checker name of a benchmark ("bert-99.9"), with its accuracy targets."""

    name: str
    targets: tuple[Target, ...]
    categories: tuple[Category, ...] = ()  # empty: every category the benchmark has
    delta_percent: Mapping[str, float] = field(default_factory=dict)  # TEST01 accuracy delta per metric

    def __hash__(self) -> int:  # the mapping field is not hashable; the name and targets identify a variant
        return hash((self.name, self.targets))

    @property
    def level(self) -> str:
        """"99", "99.9", "95"... from the primary target's fraction; "range" for absolute bounds."""
        frac = self.targets[0].fraction if self.targets else None
        return "range" if frac is None else f"{frac * 100:.10g}"


@dataclass(frozen=True)
class Benchmark:
    """A benchmark of one round; see the module docstring. Build through `podium.benchmarks.get_round`."""

    name: str
    round_name: str
    model: str
    dataset: str
    dataset_size: int | None
    performance_sample_count: int
    metric: str
    metric_units: str
    reference_accuracy: float | None
    variants: tuple[Variant, ...]
    audit_tests: tuple[str, ...]
    required: Mapping[str, tuple[str, ...]]  # "datacenter" / "edge" / "datacenter_edge" -> checker scenarios
    optional: Mapping[str, tuple[str, ...]]
    conf: Mapping[str, str] = field(repr=False)  # the round's mlperf.conf: "model.scenario.key" -> value text
    reference_measured_at_run_time: bool = False
    checker_min_queries: Mapping[str, int] = field(default_factory=dict)
    checker_latency_ns: Mapping[str, int] = field(default_factory=dict)
    accuracy_sample_count: int | Mapping[str, int] | None = None
    interactive_of: str | None = None  # this is the "-interactive" LoadGen model of that benchmark
    interactive_model: str | None = None  # LoadGen model of this benchmark's Interactive runs
    notes: tuple[str, ...] = ()

    def __hash__(self) -> int:  # mapping fields are not hashable; a round has one benchmark of a name
        return hash((self.round_name, self.name))

    # ---- scenarios ----------------------------------------------------------------------------------------

    def scenarios(self, category: Category | str) -> tuple[Scenario, ...]:
        """Required LoadGen scenarios in `category` (an Interactive requirement is not a Scenario: see
        `checker_scenarios`)."""
        return _as_scenarios(self.required.get(Category.parse(category).value, ()))

    def optional_scenarios(self, category: Category | str) -> tuple[Scenario, ...]:
        """Scenarios the checker accepts but does not require (e.g. Server or Interactive for LLMs)."""
        return _as_scenarios(self.optional.get(Category.parse(category).value, ()))

    def checker_scenarios(self, category: Category | str, *, optional: bool = False) -> tuple[str, ...]:
        """The checker's scenario names (may include "Interactive"); category may be "datacenter_edge"."""
        table = self.optional if optional else self.required
        key = category.value if isinstance(category, Category) else str(category)
        if key == "datacenter_edge" and key not in table:
            both = (*table.get("datacenter", ()), *table.get("edge", ()))
            return tuple(dict.fromkeys(both))
        return table.get(key, ())

    @property
    def categories(self) -> tuple[Category, ...]:
        """Categories in which the benchmark has required or optional scenarios."""
        return tuple(c for c in Category if self.required.get(c.value) or self.optional.get(c.value))

    # ---- LoadGen settings (from the round's mlperf.conf) --------------------------------------------------

    def settings(self, scenario: Scenario | str) -> dict[str, str]:
        """The mlperf.conf keys that apply to this model in `scenario` (key -> value text), looked up as
        LoadGen does: model.scenario, *.scenario, model.*, *.* (loadgen/test_settings_internal.cc)."""
        return conf_settings(self.conf, self.name, _scenario(scenario))

    def min_duration_ms(self, scenario: Scenario | str) -> int:
        return int(self.settings(scenario).get("min_duration", _DEFAULT_MIN_DURATION_MS))

    def min_query_count(self, scenario: Scenario | str) -> int:
        """LoadGen's min_query_count (in Offline: the minimum sample count of its one query)."""
        return int(self.settings(scenario).get("min_query_count", _DEFAULT_MIN_QUERY_COUNT))

    def target_latency_percentile(self, scenario: Scenario | str) -> float | None:
        """The latency percentile in percent (90, 99, 99.9); None in Offline, which has no latency bound."""
        s = Scenario(_scenario(scenario))
        if s is Scenario.OFFLINE:
            return None
        return float(self.settings(s).get("target_latency_percentile", _DEFAULT_PERCENTILE[s]))

    @property
    def samples_per_query(self) -> int:
        """Samples per MultiStream query."""
        return int(self.settings(Scenario.MULTI_STREAM).get("samples_per_query", _DEFAULT_SAMPLES_PER_QUERY))

    @property
    def uses_token_latencies(self) -> bool:
        return self.settings(Scenario.SERVER).get("use_token_latencies") == "1"

    @property
    def server_latency_ns(self) -> int | None:
        """The Server end-to-end latency bound; None where TTFT/TPOT bound it instead (target_latency 0)."""
        text = self.settings(Scenario.SERVER).get("target_latency")
        value = int(float(text) * _NS_PER_MS) if text is not None else None
        return value or None

    @property
    def ttft_ns(self) -> int | None:
        """Server time-to-first-token bound of LLMs that use token latencies (LoadGen's 100 ms if unset)."""
        return self._token_bound("ttft_latency")

    @property
    def tpot_ns(self) -> int | None:
        """Server time-per-output-token bound (LLMs that use token latencies)."""
        return self._token_bound("tpot_latency")

    @property
    def equal_issue(self) -> bool:
        """Equal-issue mode (`sample_concatenate_permutation = 1`) in any scenario."""
        return any(self.settings(s).get("sample_concatenate_permutation") == "1" for s in Scenario)

    def _token_bound(self, key: str) -> int | None:
        if not self.uses_token_latencies:
            return None
        text = self.settings(Scenario.SERVER).get(key)
        return int(text) * _NS_PER_MS if text is not None else _DEFAULT_TOKEN_LATENCY_NS

    # ---- accuracy -----------------------------------------------------------------------------------------

    def variant(self, name: str) -> Variant:
        for v in self.variants:
            if v.name == name:
                return v
        raise UnknownNameError(f"benchmark {self.name!r} has no variant {name!r}; known: "
                               f"{', '.join(v.name for v in self.variants)}")

    @property
    def targets(self) -> dict[str, float | tuple[float | None, float | None] | None]:
        """Primary-metric bound per level: {"99": 0.99 * reference, "99.9": ...}; a (min, max) tuple where the
        bound is a range; None where the reference is measured at run time (see `accuracy_threshold`)."""
        out: dict[str, float | tuple[float | None, float | None] | None] = {}
        for v in self.variants:
            t = v.targets[0]
            out[v.level] = (t.minimum(), t.maximum()) if t.maximum() is not None else t.minimum()
        return out

    def accuracy_threshold(self, level: str | None = None, reference: float | None = None) -> float | None:
        """The primary metric's lower bound at `level` (default: the first variant's); `reference` supplies a
        reference measured at run time (tiny round)."""
        v = self.variants[0] if level is None else next((x for x in self.variants if x.level == level), None)
        if v is None:
            levels = ", ".join(x.level for x in self.variants)
            raise UnknownNameError(f"benchmark {self.name!r} has no accuracy level {level!r}; known: {levels}")
        return v.targets[0].minimum(reference)


def conf_settings(conf: Mapping[str, str], model: str, scenario: str) -> dict[str, str]:
    """Every key that `model` reads in `scenario` from mlperf.conf lines, resolved most specific first."""
    names = {k.rsplit(".", 2)[2] for k in conf
             if k.rsplit(".", 2)[0] in (model, "*") and k.rsplit(".", 2)[1] in (scenario, "*")}
    out: dict[str, str] = {}
    for name in sorted(names):
        for key in (f"{model}.{scenario}.{name}", f"*.{scenario}.{name}", f"{model}.*.{name}", f"*.*.{name}"):
            if key in conf:
                out[name] = conf[key]
                break
    return out


def _scenario(scenario: Scenario | str) -> str:
    return scenario.value if isinstance(scenario, Scenario) else Scenario.parse(scenario).value


def _as_scenarios(names: tuple[str, ...]) -> tuple[Scenario, ...]:
    return tuple(Scenario(n) for n in names if n != INTERACTIVE)
