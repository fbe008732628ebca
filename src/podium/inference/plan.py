"""What one inference run is to do, resolved and checked before anything loads: the spec, the plan, the settings.

`plan(spec)` resolves the benchmark in the registry of its round and checks the model, dataset, config files and
numbers; `settings_for(plan, mode)` gives the LoadGen settings (the round's mlperf.conf, then user.conf, then
the command line's overrides), and `render_user_conf` the user.conf published with the results. Nothing here
loads a model or runs a test (`podium.inference.harness` does); `phases` and `peak` build on this module, and
the harness on them, so the imports point one way.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from podium.core.errors import ConfigError
from podium.core.files import atomic_write
from podium.core.vocabulary import Engine, PeakMethod, RunnerKind
from podium.core.layout import MLPERF_CONF, scenario_dir
from podium.inference.backends import BackendOptions
from podium.inference.random_weights import is_random
from podium.inference.record import PeakRecord, RunRecord
from podium.inference.runners import ModelSpec, RunnerConfig
from podium.loadgen.settings import Mode, Scenario, TestSettings

if TYPE_CHECKING:  # imported when a plan is made, not when this module loads (fast start)
    from podium.benchmarks.benchmark import Benchmark
    from podium.benchmarks.catalogue import Round
    from podium.inference.tasks import Task

# --short: a quick look, marked not valid for submission.
# The query counts are the smallest early stopping can pass (p90: 44, p99: 459 queries) with a margin, so a
# quick look can still show VALID at its percentile.
SHORT_MIN_DURATION_MS = 1000
SHORT_EXPECTED_NS = 20_000
SHORT_MIN_QUERY_COUNT = {Scenario.SINGLE_STREAM: 100, Scenario.MULTI_STREAM: 662, Scenario.SERVER: 662,
                         Scenario.OFFLINE: 1024}


@dataclass(frozen=True)
class InferenceSpec:
    """What to run: benchmark, scenario, mode, model, backend and runner, rules and where the files go."""

    benchmark: str
    scenario: Scenario
    model_path: Path
    mode: Mode = Mode.PERFORMANCE
    round: str | None = None  # default: the latest round that has the benchmark
    backend: str = "onnxruntime"
    options: BackendOptions = field(default_factory=BackendOptions)
    runner: RunnerConfig | None = None  # default: inline for SingleStream, a thread pool otherwise
    dataset_path: Path | None = None
    dataset_count: int | None = None  # only the first N samples (a quick look; not valid for submission)
    user_conf: Path | None = None
    short: bool = False
    out: Path = Path("podium-out")
    system_id: str = "local"
    engine: Engine = Engine.PODIUM  # or the official mlcommons-loadgen (the text is taken too)
    target_qps: float | None = None  # Server target / Offline expected QPS, as user.conf would set them
    reference_accuracy: float | None = None  # for benchmarks whose FP32 reference is measured at run time
    accuracy_target: str | None = None  # which of the benchmark's targets ("99", "99.9"); None: its first
    peak: PeakMethod = PeakMethod.LOADGEN  # find-peak: the engine's FindPeakPerformance, or Podium's bisection
    cache_dir: Path | None = None
    progress: bool | None = None  # live progress lines; None: when stderr is a terminal
    # How long the engine waits for the last completions; None: derived by the engine from the run's
    # expected length (Offline: the whole query), so that no full-length run is cut short.
    completion_timeout_s: float | None = None
    audit_config: Path | None = None  # an audit.config applied on purpose (never one found in the cwd)
    # How to read the graph's outputs, over the task's declared forms: output names, and a post-processor
    # (a name in podium.inference.tasks.POSTPROCESSORS); None keeps the declaration.
    outputs: tuple[str, ...] | None = None
    postprocess: str | None = None
    # TestSettings fields set last, over the config files and the harness's overrides: what an audit sets that
    # the engine reads from no audit.config any more (TEST05's test05 and its seeds, mlperf.conf-only since v5.0)
    settings_overrides: tuple[tuple[str, Any], ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "engine", Engine.parse(self.engine))  # frozen: the text to its member, once
        object.__setattr__(self, "peak", PeakMethod.parse(self.peak))
        _check_number("dataset_count", self.dataset_count, integer=True, positive=True)
        _check_number("target_qps", self.target_qps, positive=True)
        _check_number("reference_accuracy", self.reference_accuracy)
        _check_number("completion_timeout_s", self.completion_timeout_s, positive=True)

    @property
    def valid_for_submission(self) -> bool:
        return not self.short and self.dataset_count is None and not self.random_weights

    @property
    def random_weights(self) -> bool:
        """`--model random`: the task's model with random weights (performance only)."""
        return is_random(self.model_path)


def _check_number(name: str, value: Any, *, integer: bool = False, positive: bool = False) -> None:
    """A ConfigError naming `name` unless `value` is None or a number of the kind asked (never NaN or infinite:
    such a value used to run and then break the record)."""
    if value is None:
        return
    number = isinstance(value, int if integer else (int, float)) and not isinstance(value, bool)
    ok = number and (integer or math.isfinite(value)) and (not positive or value > 0)
    if not ok:
        kind = ("an integer" if integer else "a finite number") + (" > 0" if positive else "")
        raise ConfigError(f"{name} must be {kind}, not {value!r}", key=name)


@dataclass
class InferenceResult:
    """The records of the runs made (podium_run.json contents) and where the scenario's files are."""

    scenario_dir: Path
    records: list[RunRecord]
    peak: PeakRecord | None = None
    kept_in: Path | None = None  # a run that failed: where its files are (scenario_dir keeps the previous ones)

    @property
    def ok(self) -> bool:
        """Every run valid (accuracy runs: accuracy met) and nothing failed."""
        return bool(self.records) and all(r.ok for r in self.records)

    @property
    def failed(self) -> bool:
        """A test failed (the SUT raised, samples never completed): the run did not finish."""
        return any(r.errors for r in self.records)

    @property
    def files(self) -> Path:
        """Where this run's files are."""
        return self.kept_in or self.scenario_dir


@dataclass
class Plan:
    """A spec resolved against the registry: round, benchmark, task, paths, runner, model."""

    spec: InferenceSpec
    round: Round
    bench: Benchmark
    task: Task
    scenario_dir: Path
    conf_path: Path
    runner: RunnerConfig
    model: ModelSpec
    accuracy_target: float | None
    notes: list[str] = field(default_factory=list)
    work_dir: Path | None = None  # where this run writes the scenario's files (a staging folder)

    @property
    def files_dir(self) -> Path:
        return self.work_dir or self.scenario_dir


def default_runner(scenario: Scenario, batch_size: int | None = None, instances: int = 1) -> RunnerConfig:
    """Inline for SingleStream (one query at a time), a batching thread pool otherwise."""
    if scenario is Scenario.SINGLE_STREAM and instances == 1:
        return RunnerConfig(RunnerKind.INLINE, 1 if batch_size is None else batch_size, 0, 1)
    default_batch = {Scenario.MULTI_STREAM: 8, Scenario.SERVER: 8, Scenario.OFFLINE: 64}.get(scenario, 1)
    return RunnerConfig(RunnerKind.POOL, default_batch if batch_size is None else batch_size, 0, instances)


def plan(spec: InferenceSpec) -> Plan:
    """Resolve and check everything that can be checked before a model is loaded."""
    from podium.benchmarks import find_benchmark, get_round
    from podium.inference.tasks import task_for

    task = task_for(spec.benchmark, spec.round)
    task.check_backend(spec.backend)
    rnd = get_round(spec.round) if spec.round else None
    bench = rnd.benchmark(spec.benchmark) if rnd else find_benchmark(spec.benchmark)
    rnd = rnd or get_round(bench.round_name)
    if not spec.random_weights:
        _check_model_file(spec.model_path)
    for what, path in (("user.conf", spec.user_conf), ("audit.config", spec.audit_config)):
        if path is not None and not Path(path).is_file():
            raise ConfigError(f"no such {what} file", path=str(path))
    if task.needs_dataset_path and spec.dataset_path is None:
        raise ConfigError(f"benchmark {bench.name} needs --dataset-path (its {task.dataset} dataset is not "
                          "shipped with Podium)")
    sdir = scenario_dir(spec.out, spec.system_id, bench.name, spec.scenario.value)
    runner = spec.runner or default_runner(spec.scenario)
    if spec.engine is Engine.OFFICIAL and runner.kind is RunnerKind.PROCESSES:
        raise ConfigError("--engine official runs thread or inline runners (the official LoadGen's callbacks "
                          "are not picklable)")
    model = _model_spec(spec, task)
    return Plan(spec, rnd, bench, task, sdir, sdir / MLPERF_CONF, runner, model, _accuracy_target(spec, bench))


def _model_spec(spec: InferenceSpec, task: Task) -> ModelSpec:
    """How each instance loads the model: the model definition only where a state dict or random weights need it
    (a benchmark served from ONNX files runs without one), the graph forms declared or given."""
    from podium.inference.tasks import POSTPROCESSORS, GraphForm
    from podium.models import MODELS

    forms = task.forms
    if spec.outputs is not None or spec.postprocess is not None:
        post = spec.postprocess or forms[0].postprocess
        POSTPROCESSORS.get(post)  # an unknown name fails here, with the nearest names
        forms = (GraphForm("command line", post, outputs=tuple(spec.outputs or ())),)
    definition = MODELS.get(task.model) if task.model and (spec.backend == "pytorch" or spec.random_weights) \
        else None
    return ModelSpec(spec.backend, str(spec.model_path), spec.options,
                     torch_model=definition.reference if definition else None, forms=forms, predictor=task.predictor,
                     io_names=(definition.input_names, definition.output_names) if definition else None)


def _check_model_file(path: Path) -> None:
    if not Path(path).is_file():
        raise ConfigError(f"model file {path} does not exist", path=str(path))
    if Path(path).stat().st_size == 0:
        raise ConfigError(f"model file {path} is empty", path=str(path))


def _accuracy_target(spec: InferenceSpec, bench: Benchmark) -> float | None:
    """The accuracy threshold in the metric's units, at the chosen level ("99", "99.9") of the benchmark's
    reference: the registry's, or one measured at run time (`spec.reference_accuracy`)."""
    if spec.reference_accuracy is None and bench.reference_measured_at_run_time:
        raise ConfigError(f"benchmark {bench.name}'s FP32 reference accuracy is measured at run time: "
                          "give it with --reference-accuracy (podium run measures it)")
    level = spec.accuracy_target
    if level is None:  # a benchmark asked for by a variant's name ("bert-99.9") is held to that variant's target
        level = next((v.level for v in bench.variants if v.name == spec.benchmark), None)
    return bench.accuracy_threshold(level, reference=spec.reference_accuracy)


def settings_for(p: Plan, mode: Mode) -> TestSettings:
    """mlperf.conf of the round, then user.conf, then the harness's own overrides (--target-qps, --short)."""
    from podium.loadgen.config import ConfType, apply_config

    conf = _mlperf_conf(p)
    spec, model = p.spec, p.bench.name
    s = TestSettings(scenario=spec.scenario, mode=mode)
    if spec.user_conf is not None:
        s = apply_config(s, spec.user_conf, model, spec.scenario, ConfType.USER, base_conf=conf)
    else:
        s = apply_config(s, conf, model, spec.scenario, ConfType.MLPERF)
    return s.copy(**harness_overrides(spec, s), **dict(spec.settings_overrides), mode=mode)


def _mlperf_conf(p: Plan) -> Path:
    """The round's mlperf.conf beside this run's files, written once per run."""
    from podium.benchmarks import render_mlperf_conf

    if not p.conf_path.is_file():
        atomic_write(p.conf_path, render_mlperf_conf(p.round))
    return p.conf_path


def harness_overrides(spec: InferenceSpec, s: TestSettings) -> dict[str, Any]:
    """The TestSettings fields the harness sets over the config files: --target-qps, then --short."""
    out: dict[str, Any] = {}
    if spec.target_qps is not None:
        out.update(server_target_qps=spec.target_qps, offline_expected_qps=spec.target_qps)
    if spec.short:  # expected latencies low enough that a fast SUT does not run out of generated queries
        # ... except SingleStream under equal issue (3D U-Net), which runs every one of 2 x min_duration / expected
        # latency queries: a lowered expectation would make a quick look run 100,000 volumes.
        single = s.single_stream_expected_latency_ns if s.sample_concatenate_permutation else \
            min(s.single_stream_expected_latency_ns, SHORT_EXPECTED_NS)
        out.update(single_stream_expected_latency_ns=single,
                   multi_stream_expected_latency_ns=min(s.multi_stream_expected_latency_ns, 8 * SHORT_EXPECTED_NS),
                   min_duration_ms=min(s.min_duration_ms, SHORT_MIN_DURATION_MS),
                   min_query_count=min(s.min_query_count, SHORT_MIN_QUERY_COUNT[spec.scenario]))
    return out


# TestSettings field -> (user.conf key, the scenario it belongs to (None: any), divisor from the field's units)
_CONF_KEYS = {"server_target_qps": ("target_qps", Scenario.SERVER, 1),
              "offline_expected_qps": ("target_qps", Scenario.OFFLINE, 1),
              "single_stream_expected_latency_ns": ("target_latency", Scenario.SINGLE_STREAM, 1e6),
              "multi_stream_expected_latency_ns": ("target_latency", Scenario.MULTI_STREAM, 1e6),
              "min_duration_ms": ("min_duration", None, 1), "min_query_count": ("min_query_count", None, 1)}


def render_user_conf(p: Plan) -> str:
    """The user.conf published with the results: the one given (if any), then the harness's overrides as
    user.conf lines, so that the file states every value applied over the round's mlperf.conf."""
    spec, model = p.spec, p.bench.name
    lines = [f"# user.conf of this run: applied over the mlperf.conf of round {p.round.name} (beside it)."]
    if spec.user_conf is not None:
        lines += [f"# From --user-conf {spec.user_conf}:", Path(spec.user_conf).read_text("utf-8").rstrip("\n")]
    else:
        lines.append("# No --user-conf was given.")
    base = settings_for(dataclasses.replace(p, spec=dataclasses.replace(spec, target_qps=None, short=False)),
                        Mode.PERFORMANCE)
    overrides = [(field_name, value) for field_name, value in harness_overrides(spec, base).items()
                 if _CONF_KEYS[field_name][1] in (None, spec.scenario)]
    if overrides:
        lines.append("# From the command line (--target-qps, --short), applied last:")
    for field_name, value in overrides:
        key, _, divisor = _CONF_KEYS[field_name]
        lines.append(f"{model}.{spec.scenario.value}.{key} = {_conf_number(value / divisor)}")
    return "\n".join(lines) + "\n"


def _conf_number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


__all__ = ["InferenceResult", "InferenceSpec", "Plan", "default_runner", "harness_overrides", "plan",
           "render_user_conf", "settings_for"]
