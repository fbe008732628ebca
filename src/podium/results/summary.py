"""The summary: one row per result found, in the official summary CSV's columns, and the labels that group them.

A row is one inference result (benchmark x scenario) or one training benchmark (olympic time to train). Rows
carry the official columns (inference_suite.md §4.4; submission_checker/results.py), then Podium's own:
Validity, Reasons, the configuration label, the per-accelerator normalized result and its unit, and the kind.
`load(paths)` finds the results (`podium.results.layout.scan`) and builds the rows; `podium.results.tables`
renders them and `podium.results.comparison` compares them.

Result metric, as the submission checker reads it (constants.py RESULT_FIELD_NEW, v5.0 onward;
checks/performance_check.py): Offline `result_samples_per_second`, Server `result_completed_samples_per_sec`,
SingleStream `early_stopping_latency_ss`, MultiStream `early_stopping_latency_ms`, both latencies in ms
(ns / 1e6). Units follow UNIT_DICT: "Latency (ms)", "Samples/s", "Queries/s" (Tokens/s for LLMs).
"""

from __future__ import annotations

import enum
import math
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from podium.core.errors import ConfigError
from podium.core.vocabulary import Direction
from podium.results.layout import InferenceRun, TrainingRun, Unreadable, scan
from podium.results.runs import int_field, scaling_factor, score_minutes, training_target

__all__ = [
    "COLUMNS", "OFFICIAL_COLUMNS", "Better", "Kind", "Metric", "Results", "Row", "config_label", "fmt",
    "inference_row", "load", "normalize", "result_metric", "run_settings", "training_label", "training_row",
    "training_settings",
]

# The checker's summary CSV header, in its order (submission_checker/results.py ResultExporter.head).
OFFICIAL_COLUMNS = (
    "Organization", "Availability", "Division", "SystemType", "SystemName", "Platform", "Model", "MlperfModel",
    "Scenario", "Result", "Accuracy", "number_of_nodes", "host_processor_model_name", "host_processors_per_node",
    "host_processor_core_count", "accelerator_model_name", "accelerators_per_node", "total_accelerators",
    "Location", "framework", "operating_system", "notes", "compliance", "errors", "version", "inferred",
    "has_power", "Units", "weight_data_types", "design_power_watts", "PrivateID",
)
PODIUM_COLUMNS = ("Validity", "Reasons", "Configuration", "Settings", "NormalizedResult", "NormalizedUnits",
                  "Kind")
COLUMNS = OFFICIAL_COLUMNS + PODIUM_COLUMNS

TRAINING_SCENARIO = "Training"
LABEL_BACKEND_OPTIONS = ("device", "precision")   # backend options that make a different configuration
NS_PER_MS = 1_000_000
THROUGHPUT_UNITS = frozenset({"Samples/s", "Queries/s", "Tokens/s"})
SCENARIO_ORDER = ("SingleStream", "MultiStream", "Server", "Interactive", "Offline", TRAINING_SCENARIO)


class Kind(enum.Enum):
    INFERENCE = "inference"
    TRAINING = "training"


Better = Direction  # which way a result improves: throughput up, latency and time to train down

@dataclass(frozen=True)
class Metric:
    """A detail-log key holding a scenario's result; the value shown is the logged one / `divisor`."""

    key: str
    units: str
    better: Better
    divisor: float = 1.0


def _latency(key: str) -> Metric:
    return Metric(key, "Latency (ms)", Better.LOWER, NS_PER_MS)


# Keyed by the scenario directory names (Interactive is a Server variant the engine does not run itself).
# Each tuple: the checker's key first, then what logs older than v5.0 (no early stopping) carry instead.
METRICS: dict[str, tuple[Metric, ...]] = {
    "Offline": (Metric("result_samples_per_second", "Samples/s", Better.HIGHER),),
    "Server": (Metric("result_completed_samples_per_sec", "Queries/s", Better.HIGHER),
               Metric("result_scheduled_samples_per_sec", "Queries/s", Better.HIGHER)),
    "Interactive": (Metric("result_completed_samples_per_sec", "Queries/s", Better.HIGHER),),
    "SingleStream": (_latency("early_stopping_latency_ss"), _latency("result_90.00_percentile_latency_ns")),
    "MultiStream": (_latency("early_stopping_latency_ms"),
                    _latency("result_99.00_percentile_per_query_latency_ns")),
}
# LLM benchmarks report tokens (constants.py RESULT_FIELD_BENCHMARK_OVERWRITE); used when the run says Tokens/s.
TOKEN_METRICS = {"Offline": Metric("result_tokens_per_second", "Tokens/s", Better.HIGHER),
                 "Server": Metric("result_completed_tokens_per_second", "Tokens/s", Better.HIGHER),
                 "Interactive": Metric("result_completed_tokens_per_second", "Tokens/s", Better.HIGHER)}


@dataclass(frozen=True)
class Row:
    """One line of the summary: the official columns and Podium's, plus typed copies of what comparisons use."""

    kind: Kind
    label: str
    benchmark: str
    scenario: str
    value: float | None
    units: str
    better: Better
    valid: bool
    reasons: tuple[str, ...]
    normalized: float | None
    normalized_units: str
    root: Path                  # the tree holding results/ and systems/
    source: Path                # the path it was found under
    location: Path              # its performance/run_1 (inference) or results/<system>/<benchmark> (training)
    columns: Mapping[str, Any] = field(repr=False, default_factory=dict)
    notes: tuple[str, ...] = ()  # remarks that do not make the result invalid (a short run, no accuracy run)

    @property
    def cell(self) -> tuple[str, str]:
        return self.benchmark, self.scenario


@dataclass(frozen=True)
class Results:
    """Everything found under the given paths, and its rows (sorted: kind, benchmark, scenario, label);
    `unreadable`: the results (or whole paths) that could not be read, each with why."""

    paths: tuple[Path, ...]
    inference: tuple[InferenceRun, ...]
    training: tuple[TrainingRun, ...]
    rows: tuple[Row, ...]
    unreadable: tuple[Unreadable, ...] = ()

    @property
    def labels(self) -> list[str]:
        return list(dict.fromkeys(r.label for r in self.rows))


def load(paths: Iterable[Path | str]) -> Results:
    """Read every inference result and training campaign under `paths` (run trees or submission trees).

    A path or result that cannot be read is listed in `unreadable` and the rest are read: one corrupt file
    among many trees does not cost the table. ConfigError only when nothing at all could be read."""
    roots = tuple(Path(p) for p in paths)
    scans = [scan(p) for p in roots]
    bad = [u for s in scans for u in s.unreadable]
    labelled = [(r, _row_or_none(lambda r, _: config_label(r.system_id, r.record), r, "", r.perf_dir, bad))
                for s in scans for r in s.inference]
    inference = [r for r, label in labelled if label is not None]
    training = [t for s in scans for t in s.training]
    base = [label for _, label in labelled if label is not None] + [training_label(t) for t in training]
    labels = _disambiguate(base, [r.root for r in inference] + [t.root for t in training])
    pairs = [(r, _row_or_none(inference_row, r, lab, r.perf_dir, bad)) for r, lab in zip(inference, labels)]
    tpairs = [(t, _row_or_none(training_row, t, lab, t.results_dir, bad))
              for t, lab in zip(training, labels[len(inference):])]
    rows = [row for _, row in [*pairs, *tpairs] if row is not None]
    if not rows:
        raise ConfigError(_nothing_read(roots, bad))
    rows.sort(key=lambda r: (r.kind.value, r.benchmark, _scenario_rank(r.scenario), r.label))
    return Results(roots, tuple(r for r, row in pairs if row is not None),
                   tuple(t for t, row in tpairs if row is not None), tuple(rows), tuple(bad))


_Found = TypeVar("_Found", InferenceRun, TrainingRun)


def _row_or_none(make: Callable[[_Found, str], Any], found: _Found, label: str, where: Path,
                 bad: list[Unreadable]) -> Any:
    """`make(found, label)` (the row of one result, its label); None, with why in `bad`, when its files hold
    what Podium does not expect (a record edited by hand or written by another tool: a string where a table
    belongs)."""
    try:
        return make(found, label)
    except (TypeError, ValueError, AttributeError, KeyError) as e:
        bad.append(Unreadable(where, f"unexpected content ({type(e).__name__}: {e})"))
        return None


def _nothing_read(roots: Sequence[Path], bad: Sequence[Unreadable]) -> str:
    if bad:
        return "; ".join(str(u) for u in bad[:5]) + (f"; and {len(bad) - 5} more" if len(bad) > 5 else "")
    return (f"no results under {', '.join(map(str, roots))} (looked for "
            "results/<system>/<benchmark>/<scenario>/performance/run_1/ and result_<i>.txt)")


def _scenario_rank(scenario: str) -> int:
    return SCENARIO_ORDER.index(scenario) if scenario in SCENARIO_ORDER else len(SCENARIO_ORDER)


# ---- configuration labels


def config_label(system_id: str, record: Mapping[str, Any]) -> str:
    """`<system>/<backend>[device=..,precision=..]`: the configuration a result belongs to.

    Backend name (`+official` when the official LoadGen ran) with its device and precision when recorded. The
    runner's settings (batch size, instances, ...) are not part of it: a submitter tunes them per scenario on
    one system, and they are shown in the Settings column (`run_settings`). One tree holds one result per
    system, benchmark and scenario, so results of two trees with the same label are told apart by `@<tree>`.
    A tree without podium_run.json (an official submission) is labelled by its system id alone.
    """
    backend = record.get("backend") or {}
    if not backend and not record.get("runner"):
        return system_id
    name = str(backend.get("name", "?"))
    if record.get("engine", "podium") != "podium":
        name += f"+{record['engine']}"
    options = backend.get("options") or {}
    picked = [f"{k}={options[k]}" for k in LABEL_BACKEND_OPTIONS if options.get(k) not in (None, "")]
    name += f"[{','.join(picked)}]" if picked else ""
    return f"{system_id}/{name}"


def run_settings(record: Mapping[str, Any]) -> str:
    """The runner and its scalar settings, `pool(batch_size=8,instances=1,...)`; "" when not recorded."""
    runner = dict(record.get("runner") or {})
    if not runner:
        return ""
    kind = str(runner.pop("kind", "runner"))
    return f"{kind}({_knobs(runner)})"


def _knobs(settings: Mapping[str, Any]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(settings.items()) if isinstance(v, (str, int, float, bool)))


def training_label(t: TrainingRun) -> str:
    return f"{t.system_id}/training"


def training_settings(t: TrainingRun) -> str:
    batch = {log.global_batch_size for log in t.logs if log.global_batch_size is not None}
    return f"global_batch_size={batch.pop()}" if len(batch) == 1 else ""


def _disambiguate(labels: Sequence[str], roots: Sequence[Path]) -> list[str]:
    """A label found in several trees gets `@<tree>`, the tree's path below what those trees share."""
    seen: dict[str, set[Path]] = {}
    for label, root in zip(labels, roots):
        seen.setdefault(label, set()).add(root.resolve())
    out = []
    for label, root in zip(labels, roots):
        trees = seen[label]
        if len(trees) == 1:
            out.append(label)
            continue
        common = Path(os.path.commonpath([str(t) for t in trees]))
        out.append(f"{label}@{root.resolve().relative_to(common)}")
    return out


# ---- rows


def _system_columns(system: Mapping[str, Any]) -> dict[str, Any]:
    nodes = int_field(system, "number_of_nodes", 1)
    notes = ". ".join(str(system[k]) for k in ("hw_notes", "sw_notes") if system.get(k))
    return {
        "Organization": system.get("submitter", ""), "Availability": system.get("status", ""),
        "Division": system.get("division", ""), "SystemType": system.get("system_type", ""),
        "SystemName": system.get("system_name", ""), "number_of_nodes": nodes,
        "host_processor_model_name": system.get("host_processor_model_name", ""),
        "host_processors_per_node": system.get("host_processors_per_node", ""),
        "host_processor_core_count": system.get("host_processor_core_count", ""),
        "accelerator_model_name": system.get("accelerator_model_name", ""),
        "accelerators_per_node": system.get("accelerators_per_node", ""),
        "total_accelerators": nodes * int_field(system, "accelerators_per_node", 0),
        "framework": system.get("framework", ""), "operating_system": system.get("operating_system", ""),
        "notes": notes, "design_power_watts": "", "PrivateID": "", "has_power": False, "inferred": 0,
    }


def normalize(value: float | None, units: str, system: Mapping[str, Any]) -> tuple[float | None, str]:
    """Throughput per accelerator; per host processor socket on systems without accelerators.

    Latencies and times are not normalized: one query's latency does not divide among chips. Without a system
    description there is nothing to divide by.
    """
    if value is None or units not in THROUGHPUT_UNITS or not system:
        return None, ""
    nodes = int_field(system, "number_of_nodes", 1)
    accelerators = nodes * int_field(system, "accelerators_per_node", 0)
    if accelerators > 0:
        return value / accelerators, f"{units} per accelerator"
    sockets = nodes * int_field(system, "host_processors_per_node", 1)
    return value / max(sockets, 1), f"{units} per socket"


def result_metric(r: InferenceRun) -> tuple[Metric, float | None]:
    """The scenario's metric and its value from the detail log (None when the log lacks every candidate)."""
    wants_tokens = (r.record.get("result") or {}).get("units") == "Tokens/s"
    candidates = ((TOKEN_METRICS[r.scenario],) if wants_tokens and r.scenario in TOKEN_METRICS else ()) + \
        METRICS.get(r.scenario, ())
    for metric in candidates:
        try:
            value = float(r.detail[metric.key]) / metric.divisor
        except (KeyError, TypeError, ValueError):
            continue
        if math.isfinite(value):   # a NaN or infinite result is no result (strict JSON refuses it too)
            return metric, value
    return (candidates[0] if candidates else Metric("", "", Better.HIGHER)), None


FLAGS = (("result_min_duration_met", "min duration not met"), ("result_min_queries_met", "min queries not met"),
         ("result_perf_constraints_met", "latency constraint not met"),
         ("early_stopping_met", "early stopping not met"))


def _problems(r: InferenceRun) -> list[str]:
    """What makes a result invalid: the detail log's failed rules and errors, the harness's errors, accuracy."""
    out = [text for key, text in FLAGS if r.detail.get(key) is False]
    if r.detail.get("result_validity") != "VALID" and not out:
        out.append(f"LoadGen says {r.detail.get('result_validity', 'nothing')}")
    if r.detail.num_errors:
        out.append(f"{r.detail.num_errors} LoadGen error(s) in the detail log")
    errors = r.record.get("errors") or []
    if errors:
        out.append(f"{len(errors)} error(s) in the run: {errors[0]}")
    acc = r.accuracy
    if acc is not None and acc.get("passed") is False:
        out.append(f"accuracy {acc.get('value')} below target {acc.get('target')}")
    return out


def _notes(r: InferenceRun, problems: Sequence[str]) -> list[str]:
    """The run's own remarks that are not already among the problems (e.g. a short run)."""
    said = (r.record.get("result") or {}).get("reasons") or []
    notes = [str(x) for x in said if str(x) not in problems]
    if not r.record.get("valid_for_submission", True) and not any("submission" in n for n in notes):
        notes.append("not valid for submission")
    if r.accuracy is None:
        notes.append("no accuracy result")
    if not r.system:
        notes.append(f"no systems/{r.system_id}.json")
    return notes


def _accuracy_text(acc: Mapping[str, Any] | None) -> str:
    """As the checker's Accuracy column, `metric: value`, with the value accuracy.txt reports
    (checks/accuracy_check.py accuracy_metrics)."""
    if acc is None:
        return ""
    return f"{acc.get('metric', 'accuracy')}: {acc.get('value_reported', acc.get('value'))}"


def inference_row(r: InferenceRun, label: str) -> Row:
    metric, value = result_metric(r)
    reasons = _problems(r)
    if value is None:
        reasons.append(f"no {metric.key or 'result'} in {r.perf_dir / 'mlperf_log_detail.txt'}")
    valid = not reasons
    normalized, norm_units = normalize(value, metric.units, r.system)
    notes = _notes(r, reasons)
    effective = r.detail.get("effective_scenario", r.scenario)
    columns = {**_system_columns(r.system), **{
        "Platform": r.system_id, "Model": r.benchmark, "MlperfModel": r.benchmark, "Scenario": r.scenario,
        "Result": value if value is not None else "", "Accuracy": _accuracy_text(r.accuracy),
        "Location": str(r.perf_dir.relative_to(r.root)),
        # The checker fills `compliance` with the division (results.py: "TODO"); so does Podium, for its readers.
        "compliance": r.system.get("division", ""), "errors": r.detail.num_errors,
        "version": r.record.get("round", ""), "inferred": int(effective != r.scenario),
        "Units": metric.units, "weight_data_types": r.measurements.get("weight_data_types", ""),
        "Validity": "VALID" if valid else "INVALID", "Reasons": "; ".join(reasons + notes),
        "Configuration": label, "Settings": run_settings(r.record),
        "NormalizedResult": normalized if normalized is not None else "",
        "NormalizedUnits": norm_units, "Kind": Kind.INFERENCE.value}}
    return Row(Kind.INFERENCE, label, r.benchmark, r.scenario, value, metric.units, metric.better, valid,
               tuple(reasons), normalized, norm_units, r.root, r.source, r.perf_dir, columns, tuple(notes))


def training_row(t: TrainingRun, label: str) -> Row:
    """Time to train in minutes: campaign.json's submitted score, else the olympic mean of the logs; times the
    RCP scaling factor when the runs converged faster than the reference mean (as the summarizer publishes)."""
    minutes, reasons = score_minutes(t)
    scaling, notes = scaling_factor(t), []
    if minutes is not None and scaling != 1.0:
        notes.append(f"olympic {minutes:.5g} min scaled by {scaling:.4f} (converged faster than the reference)")
        minutes *= scaling
    target = training_target(t)
    converged = sum(1 for log in t.logs if log.status == "success")
    quality = f"{target[0]} >= {target[1]}: " if target else ""
    columns = {**_system_columns(t.system), **{
        "Platform": t.system_id, "Model": t.benchmark, "MlperfModel": t.benchmark,
        "Scenario": TRAINING_SCENARIO, "Result": minutes if minutes is not None else "",
        "Accuracy": f"{quality}{converged}/{len(t.logs)} runs converged",
        "Location": str(t.results_dir.relative_to(t.root)), "compliance": t.system.get("division", ""),
        "errors": len(t.logs) - converged, "version": (t.campaign or {}).get("ruleset", ""),
        "Units": "Minutes", "weight_data_types": "", "Validity": "VALID" if not reasons else "INVALID",
        "Reasons": "; ".join(reasons + notes), "Configuration": label, "Settings": training_settings(t),
        "NormalizedResult": "", "NormalizedUnits": "", "Kind": Kind.TRAINING.value}}
    if t.campaign and t.campaign.get("division"):
        columns["Division"] = columns["compliance"] = t.campaign["division"]
    return Row(Kind.TRAINING, label, t.benchmark, TRAINING_SCENARIO, minutes, "Minutes", Better.LOWER,
               not reasons, tuple(reasons), None, "", t.root, t.source, t.results_dir, columns, tuple(notes))



# ---- formatting


def fmt(value: Any) -> str:
    """A number for people: 4 significant digits, thousands grouped; blanks stay blank."""
    if value is None or value == "":
        return "-"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, int) or abs(value) >= 10_000 or (abs(value) >= 1_000 and float(value).is_integer()):
        return f"{value:,.0f}"
    return f"{value:,.1f}" if abs(value) >= 1_000 else f"{value:.4g}"
