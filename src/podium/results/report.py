"""The HTML report: one self-contained file that works offline, built from run trees.

It holds the results table, comparisons between configurations, per inference run the latency histogram and
CDF (podium_run.json's latency_histogram / latency_quantiles) and the peak search's throughput-latency curve
(find_peak/podium_peak.json), training convergence curves with their target, and the system descriptions.

`build_report(paths)` renders the page; `write_report(paths, out)` writes it atomically; `render(results)` and
`write(results, out)` do the same from loaded results (`podium run` and `podium report` call them), whose
unreadable files the page lists at the top, the rest shown all the same. CSS is inline, plots are inline SVG
drawn by `podium.results.plots`, and the page has no script. Every string from result and system files
reaches the page through Jinja2 with autoescape on (the plots escape their own text); a Content-Security-Policy
also forbids scripts and every fetch, so a string that slipped through would neither run nor reach the network.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from markupsafe import Markup

from podium import __version__
from podium.core.files import atomic_write
from podium.results import comparison, plots, runs, tables
from podium.results.layout import InferenceRun, TrainingRun, system_description
from podium.results.summary import Row, fmt

__all__ = ["build_report", "render", "write", "write_report"]

TEMPLATE = "report.html.j2"
PEAK_TITLE = "Peak search: throughput against p99 latency"
LATENCY_FACTS = (("p50", "result_50.00_percentile_latency_ns"), ("p90", "result_90.00_percentile_latency_ns"),
                 ("p99", "result_99.00_percentile_latency_ns"), ("mean", "result_mean_latency_ns"))


def build_report(paths: Iterable[Path | str]) -> str:
    """The report's HTML for every result under `paths` (run trees or submission trees)."""
    return render(tables.load(paths))


def render(results: tables.Results) -> str:
    """The report's HTML for loaded results."""
    by_location = {r.location: r for r in results.rows}
    anchors = {row.location: f"result-{i}" for i, row in enumerate(results.rows)}
    order = {row.location: i for i, row in enumerate(results.rows)}   # cards in the table's order
    return _environment().get_template(TEMPLATE).render(
        generated_at=dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), version=__version__,
        sources=[str(p) for p in results.paths],
        summary=[_summary_view(r, anchors.get(r.location)) for r in results.rows],
        comparisons=[_comparison_view(c) for c in comparison.default_comparisons(results)],
        runs=[_run_view(r, by_location[r.perf_dir], anchors[r.perf_dir])
              for r in sorted(results.inference, key=lambda r: order[r.perf_dir])],
        training=[_training_view(t, by_location[t.results_dir], anchors[t.results_dir])
                  for t in sorted(results.training, key=lambda t: order[t.results_dir])],
        systems=_system_views(results), unreadable=[str(u) for u in results.unreadable])


def write_report(paths: Iterable[Path | str], out: Path) -> Path:
    """Render the report and write it to `out` atomically; returns `out`."""
    return write(tables.load(paths), out)


def write(results: tables.Results, out: Path) -> Path:
    """Render the report of `results` and write it to `out` atomically (an OSError is an OutputError naming
    `out`); returns `out`."""
    return atomic_write(Path(out), render(results))


def _environment() -> Any:
    import jinja2

    return jinja2.Environment(loader=jinja2.PackageLoader("podium.results", "templates"), autoescape=True,
                              undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def _count_of(count: Any, name: Any) -> str:
    n = runs.int_field({"n": count}, "n", 0)
    return f"{n} x {name}" if n and name not in ("", None) else "none"


def _summary_view(r: Row, anchor: str | None) -> dict[str, Any]:
    c = r.columns
    hosts = runs.int_field(c, "number_of_nodes", 1) * runs.int_field(c, "host_processors_per_node", 1)
    return {"system": c.get("SystemName") or c.get("Platform"), "label": r.label, "model": r.benchmark,
            "scenario": r.scenario, "result": fmt(r.value), "units": r.units, "per_unit": fmt(r.normalized),
            "per_unit_units": r.normalized_units, "accuracy": c.get("Accuracy", ""), "anchor": anchor,
            "accelerators": _count_of(c.get("total_accelerators"), c.get("accelerator_model_name")),
            "hosts": _count_of(hosts, c.get("host_processor_model_name")), "valid": r.valid,
            "validity": c.get("Validity"), "reasons": "; ".join(r.reasons), "notes": "; ".join(r.notes)}


def _comparison_view(c: comparison.Comparison) -> dict[str, Any]:
    head, body, _ = c.lines()
    return {"a": c.a.name, "b": c.b.name, "head": head, "body": body, "note": c.NOTE,
            "verdict": comparison.verdict(c.geomean) if c.geomean else "no geometric mean", "counted": len(c.counted)}


def _latency_text(ns: Any) -> str:
    if not isinstance(ns, (int, float)):
        return "-"
    unit, per = plots.latency_unit(float(ns))
    return f"{plots.fmt_num(ns / per)} {unit}"


def _run_facts(r: InferenceRun) -> list[tuple[str, str]]:
    record, d = r.record, r.detail
    facts = [(name, _latency_text(d.get(key))) for name, key in LATENCY_FACTS]
    facts += [("queries", fmt(d.get("result_query_count"))),
              ("min duration", f"{d.get('effective_min_duration_ms', '-')} ms")]
    if "Server" in r.scenario:
        facts.append(("latency bound", _latency_text(d.get("effective_target_latency_ns"))))
    backend, runner = record.get("backend") or {}, record.get("runner") or {}
    if backend:
        facts.append(("backend", f"{backend.get('name', '?')} {backend.get('version', '')}".strip()))
    if runner:
        facts.append(("runner", ", ".join(f"{k}={v}" for k, v in runner.items())))
    facts += [(k, str(record[k])) for k in ("engine", "round") if record.get(k)]
    return facts


def _drawn(draw: Callable[..., Markup], *args: Any, **kwargs: Any) -> Markup:
    """One plot; a record the plot cannot use (a hand-edited or foreign file) shows why in place of the plot,
    so that one bad file does not cost the whole report."""
    try:
        return draw(*args, **kwargs)
    except (ValueError, TypeError, ZeroDivisionError, OverflowError) as e:
        return Markup('<p class="note">{}</p>').format(f"{kwargs.get('title', 'plot')}: cannot draw ({e})")


def _latency_plots(record: Mapping[str, Any]) -> tuple[Any, Any]:
    hist, quant = record.get("latency_histogram") or {}, record.get("latency_quantiles") or {}
    edges, counts = list(hist.get("edges_ns") or ()), list(hist.get("counts") or ())
    histogram = (_drawn(plots.histogram_svg, edges, counts, clipped_at_ns=hist.get("clipped_at_ns"),
                        title="Sample latency histogram") if edges or counts else None)
    q, lat = list(quant.get("q") or ()), list(quant.get("latency_ns") or ())
    cdf = _drawn(plots.cdf_svg, q, lat, title="Sample latency CDF") if q or lat else None
    return histogram, cdf


def _peak(r: InferenceRun) -> tuple[Any, list[tuple[str, str]]]:
    """The peak search's plot (None without steps that carry both QPS and p99, e.g. method "loadgen")."""
    if r.peak is None:
        return None, []
    peak, steps = r.peak, list(r.peak.get("steps") or ())
    bound = r.detail.get("effective_target_latency_ns")
    drawable = [s for s in steps if isinstance(s, Mapping) and s.get("achieved_qps") and s.get("p99_ns")]
    svg = _drawn(plots.peak_svg, drawable, latency_bound_ns=float(bound) if bound else None,
                 peak_qps=peak.get("peak_qps"), title=PEAK_TITLE) if drawable else None
    bracket = peak.get("bracket_qps") or ()
    facts = [("peak", f"{fmt(peak.get('peak_qps'))} QPS"), ("method", str(peak.get("method", "?"))),
             ("bracket", " - ".join(fmt(x) for x in bracket) + " QPS" if bracket else "-"),
             ("steps", str(len(steps)))]
    return svg, facts


def _run_view(r: InferenceRun, row: Row, anchor: str) -> dict[str, Any]:
    histogram, cdf = _latency_plots(r.record)
    peak, peak_facts = _peak(r)
    return {"anchor": anchor, "title": f"{r.benchmark} · {r.scenario}", "label": row.label,
            "system": r.system.get("system_name") or r.system_id, "result": fmt(row.value), "units": row.units,
            "valid": row.valid, "validity": row.columns.get("Validity"), "reasons": "; ".join(row.reasons),
            "notes": "; ".join(row.notes), "facts": _run_facts(r), "logs": str(r.perf_dir), "histogram": histogram,
            "cdf": cdf, "peak": peak, "peak_facts": peak_facts}


def _training_view(t: TrainingRun, row: Row, anchor: str) -> dict[str, Any]:
    target = runs.training_target(t)
    series = [plots.Series(f"run {log.index}" + ("" if log.status == "success" else f" ({log.status or 'no stop'})"),
                           tuple((ms / 1000, v) for ms, v in log.evals), log.status == "success")
              for log in t.logs]
    metric = f"eval_accuracy ({target[0]})" if target else "eval_accuracy"
    logs = [{"index": log.index, "status": log.status or "no run_stop", "evals": len(log.evals),
             "seconds": "-" if log.duration_ms is None or log.status != "success" else f"{log.duration_ms / 1000:.1f}",
             "last": f"{log.evals[-1][1]:.4g}" if log.evals else "-"} for log in t.logs]
    return {"anchor": anchor, "title": f"{t.benchmark} · time to train", "label": row.label,
            "system": t.system.get("system_name") or t.system_id, "score": fmt(row.value), "valid": row.valid,
            "validity": row.columns.get("Validity"), "reasons": row.columns.get("Reasons"), "logs": logs,
            "plot": _drawn(plots.convergence_svg, series, metric=metric, target=target[1] if target else None,
                           title="Convergence: eval metric against time, every run")}


def _system_views(results: tables.Results) -> list[dict[str, Any]]:
    """One entry per distinct system description (the same file under inference/ and training/ shows once)."""
    seen: dict[tuple[str, str], dict[str, Any]] = {}
    found = [(r.system_id, r.system, r.root) for r in results.inference]
    found += [(t.system_id, t.system, t.root) for t in results.training]
    for system_id, system, root in found:
        key = (system_id, json.dumps(system, sort_keys=True, default=str))
        where = str(system_description(root, system_id)) if system else "(no systems/<id>.json found)"
        view = seen.setdefault(key, {"id": system_id, "name": system.get("system_name") or system_id,
                                     "where": [], "fields": [(k, _field_text(v)) for k, v in system.items()]})
        if where not in view["where"]:
            view["where"].append(where)
    return list(seen.values())


def _field_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)
