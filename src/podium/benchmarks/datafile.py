"""Round data files (rounds/*.toml): reading, inheritance and the schema check.

A round file may name `inherit = "<parent round>"`: it starts from the parent's complete table, deletes the
paths listed in `unset` (each a list of keys, e.g. ["benchmarks", "gnmt"] or ["conf", "Server",
"min_query_count"]), then merges its own tables in (tables merge key by key; any other value replaces).
`round`, `inherit`, `unset`, `notes` and `sources` belong to the file itself and are never inherited.
Every problem is a `ConfigError` naming the file and the dotted key.
"""

from __future__ import annotations

import copy
import difflib
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from podium.core.errors import ConfigError

__all__ = ["OWN_KEYS", "load_round_tables"]

OWN_KEYS = ("round", "inherit", "unset", "notes", "sources")
SCENARIO_KEYS = ("*", "SingleStream", "MultiStream", "Server", "Offline")
CHECKER_SCENARIOS = ("SingleStream", "MultiStream", "Server", "Offline", "Interactive")
CATEGORY_KEYS = ("datacenter", "edge", "datacenter_edge")

# key -> expected type(s); a dict value is a nested schema, a tuple of types is "any of"
TARGET_SCHEMA: dict[str, Any] = {
    "metric": str, "reference": (int, float), "fraction": (int, float), "max_fraction": (int, float),
    "min": (int, float), "max": (int, float), "scenario": str,
}
VARIANT_SCHEMA: dict[str, Any] = {"targets": list, "categories": list, "delta_percent": dict}
BENCHMARK_SCHEMA: dict[str, Any] = {
    "model": str, "dataset": str, "dataset_size": int, "performance_sample_count": int, "metric": str,
    "metric_units": str, "reference_accuracy": (int, float), "reference_measured_at_run_time": bool,
    "audit_tests": list, "notes": list, "retired": str, "interactive_of": str, "interactive_model": str,
    "scenarios": dict, "optional_scenarios": dict, "conf": dict, "variants": dict,
    "checker": {"min_queries": dict, "latency_ns": dict, "accuracy_sample_count": (int, dict)},
}
ROUND_SCHEMA: dict[str, Any] = {
    "round": str, "inherit": str, "unset": list, "notes": list, "sources": list, "loadgen_version": str,
    "seeds": dict, "test05_seeds": dict, "test05_seeds_in_conf": bool, "conf": dict, "aliases": dict,
    "benchmarks": dict,
}
SEED_KEYS = ("qsl_rng_seed", "sample_index_rng_seed", "schedule_rng_seed")


def load_round_tables(directory: Path) -> dict[str, dict[str, Any]]:
    """Every round file of `directory`, inheritance resolved: round name -> complete table."""
    raw: dict[str, tuple[Path, dict[str, Any]]] = {}
    for path in sorted(directory.glob("*.toml")):
        table = _read(path)
        name = _get(table, "round", str, path)
        if name in raw:
            raise ConfigError(f"round {name!r} is also defined in {raw[name][0].name}", path=str(path),
                              key="round")
        raw[name] = (path, table)
    resolved: dict[str, dict[str, Any]] = {}
    for name in raw:
        _resolve(name, raw, resolved, ())
    return resolved


def _read(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text("utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"not valid TOML: {e}", path=str(path)) from None
    except OSError as e:
        raise ConfigError(f"cannot read round file: {e.strerror or e}", path=str(path)) from None


def _resolve(name: str, raw: Mapping[str, tuple[Path, dict[str, Any]]], done: dict[str, dict[str, Any]],
             chain: tuple[str, ...]) -> dict[str, Any]:
    if name in done:
        return done[name]
    path, table = raw[name]
    if name in chain:
        raise ConfigError(f"inheritance loop: {' -> '.join((*chain, name))}", path=str(path), key="inherit")
    parent_name = table.get("inherit")
    merged: dict[str, Any] = {}
    if parent_name is not None:
        if parent_name not in raw:
            others = [n for n in raw if n != name]
            close = difflib.get_close_matches(str(parent_name), others, n=1, cutoff=0.5)
            raise ConfigError(f"inherits from unknown round {parent_name!r}", path=str(path), key="inherit",
                              suggestion=close[0] if close else None)
        merged = copy.deepcopy(_resolve(parent_name, raw, done, (*chain, name)))
        for own in OWN_KEYS:
            merged.pop(own, None)
        for keys in _get(table, "unset", list, path, default=[]):
            _unset(merged, keys, path)
    _merge(merged, {k: v for k, v in table.items() if k != "unset"})
    check_round(merged, path)
    done[name] = merged
    return merged


def _unset(table: dict[str, Any], keys: Any, path: Path) -> None:
    if not isinstance(keys, list) or not keys or not all(isinstance(k, str) for k in keys):
        raise ConfigError(f"each unset entry is a list of keys, not {keys!r}", path=str(path), key="unset")
    node = table
    for depth, key in enumerate(keys):
        if not isinstance(node, dict) or key not in node:
            raise ConfigError(f"unset: the parent round has no {'.'.join(keys[:depth + 1])!r}",
                              path=str(path), key="unset")
        if depth == len(keys) - 1:
            del node[key]
        else:
            node = node[key]


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> None:
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = copy.deepcopy(value)


# ---- schema ----------------------------------------------------------------------------------------------


def check_round(table: Mapping[str, Any], path: Path) -> None:
    """Raise ConfigError for an unknown key, a wrong type or a missing required key."""
    _check_keys(table, ROUND_SCHEMA, path, "")
    for required in ("loadgen_version", "seeds", "benchmarks"):
        _get(table, required, ROUND_SCHEMA[required], path)
    for seeds in ("seeds", "test05_seeds"):
        if seeds in table:
            _check_seeds(table[seeds], path, seeds)
    _check_conf(table.get("conf", {}), path, "conf")
    for name, bench in table["benchmarks"].items():
        _check_benchmark(bench, path, f"benchmarks.{name}")


def _check_benchmark(bench: Any, path: Path, where: str) -> None:
    if not isinstance(bench, dict):
        raise ConfigError("a benchmark is a table", path=str(path), key=where)
    _check_keys(bench, BENCHMARK_SCHEMA, path, where)
    if "interactive_of" not in bench and "retired" not in bench:
        for required in ("model", "dataset", "performance_sample_count", "metric", "metric_units", "variants"):
            _get(bench, required, BENCHMARK_SCHEMA[required], path, where=f"{where}.")
    _check_conf(bench.get("conf", {}), path, f"{where}.conf")
    for kind in ("scenarios", "optional_scenarios"):
        for category, names in bench.get(kind, {}).items():
            _check_choice(category, CATEGORY_KEYS, path, f"{where}.{kind}.{category}")
            for n in _list_of(names, str, path, f"{where}.{kind}.{category}"):
                _check_choice(n, CHECKER_SCENARIOS, path, f"{where}.{kind}.{category}")
    for name, variant in bench.get("variants", {}).items():
        _check_variant(variant, path, f"{where}.variants.{name}")


def _check_variant(variant: Any, path: Path, where: str) -> None:
    if not isinstance(variant, dict):
        raise ConfigError("a variant is a table", path=str(path), key=where)
    _check_keys(variant, VARIANT_SCHEMA, path, where)
    for i, target in enumerate(_get(variant, "targets", list, path, where=f"{where}.")):
        if not isinstance(target, dict):
            raise ConfigError("a target is an inline table", path=str(path), key=f"{where}.targets[{i}]")
        _check_keys(target, TARGET_SCHEMA, path, f"{where}.targets[{i}]")
        _get(target, "metric", str, path, where=f"{where}.targets[{i}].")
    for c in _list_of(variant.get("categories", []), str, path, f"{where}.categories"):
        _check_choice(c, CATEGORY_KEYS[:2], path, f"{where}.categories")


def _check_conf(conf: Any, path: Path, where: str) -> None:
    if not isinstance(conf, dict):
        raise ConfigError("conf is a table: scenario -> {key = \"value\"}", path=str(path), key=where)
    for scenario, keys in conf.items():
        _check_choice(scenario, SCENARIO_KEYS, path, f"{where}.{scenario}")
        if not isinstance(keys, dict):
            raise ConfigError("expected a table of key = \"value\"", path=str(path), key=f"{where}.{scenario}")
        for key, value in keys.items():
            if not isinstance(value, str):
                raise ConfigError(f"mlperf.conf values are written as strings (\"{value}\"), as in the file",
                                  path=str(path), key=f"{where}.{scenario}.{key}")


def _check_seeds(seeds: Any, path: Path, where: str) -> None:
    _check_keys(seeds, dict.fromkeys(SEED_KEYS, str), path, where)
    for key in SEED_KEYS:
        text = _get(seeds, key, str, path, where=f"{where}.")
        if not text.isdigit() or int(text) >= 1 << 64:
            raise ConfigError(f"a seed is an unsigned 64-bit integer in a string, not {text!r}",
                              path=str(path), key=f"{where}.{key}")


def _check_keys(table: Any, schema: Mapping[str, Any], path: Path, where: str) -> None:
    if not isinstance(table, dict):
        raise ConfigError("expected a table", path=str(path), key=where or None)
    for key, value in table.items():
        dotted = f"{where}.{key}" if where else key
        if key not in schema:
            close = difflib.get_close_matches(key, list(schema), n=1, cutoff=0.6)
            raise ConfigError(f"unknown key {key!r}", path=str(path), key=dotted,
                              suggestion=close[0] if close else None)
        expected = schema[key]
        if isinstance(expected, dict):
            _check_keys(value, expected, path, dotted)
        elif not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            raise ConfigError(f"wrong type {type(value).__name__}; expected {_type_name(expected)}",
                              path=str(path), key=dotted)


def _check_choice(value: str, choices: tuple[str, ...], path: Path, where: str) -> None:
    if value not in choices:
        close = difflib.get_close_matches(value, list(choices), n=1, cutoff=0.5)
        raise ConfigError(f"{value!r} is not one of {', '.join(choices)}", path=str(path), key=where,
                          suggestion=close[0] if close else None)


def _list_of(value: Any, kind: type, path: Path, where: str) -> list[Any]:
    if not isinstance(value, list) or not all(isinstance(v, kind) for v in value):
        raise ConfigError(f"expected a list of {kind.__name__}", path=str(path), key=where)
    return value


def _get(table: Mapping[str, Any], key: str, kind: Any, path: Path, *, where: str = "",
         default: Any = ...) -> Any:
    if key not in table:
        if default is not ...:
            return default
        raise ConfigError("missing required key", path=str(path), key=f"{where}{key}")
    value = table[key]
    if not isinstance(value, kind):
        raise ConfigError(f"wrong type {type(value).__name__}; expected {_type_name(kind)}", path=str(path),
                          key=f"{where}{key}")
    return value


def _type_name(kind: Any) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join({int: "integer", float: "number", str: "string", list: "array", dict: "table",
                        bool: "boolean"}.get(k, k.__name__) for k in kinds)
