"""Config files (mlperf.conf, user.conf, audit.config): read and applied as the official LoadGen does.

Port of `TestSettings::FromConfig` (loadgen/test_settings_internal.cc, 6.0.17). Lines `model.scenario.key =
value`; a key is looked up as `model.scenario.key`, `*.scenario.key`, `model.*.key`, then `*.*.key`.

- `apply_config` is Podium's reading: new settings, or `ConfigError` naming file, line, key and the nearest
  known key for what the official silently ignores (typos, `a.b.c=5`, keys it does not read there), rejects
  (a trailing `# comment`) or misreads (`010` is octal, `1.5` and `1e3` truncate, `-1` wraps), and for a
  value out of its setting's range (`settings.field_problem`: a zero QPS, NaN, 0 samples per query). Lines
  are read one at a time, up to 64 KiB each, and values are quoted in errors cut to ~80 characters: a
  200 MB token is neither read whole nor echoed. Invariant, tested against the official: a file
  `apply_config` accepts gives the official's settings.
- `from_config_compat` is the official behaviour (return codes, buffered errors) for the drop-in module.

conf_type 0 reads only the shipped mlperf.conf (data/mlperf.conf = the 6.0.17 values); 1 (user.conf) reads it
first when the file is the first user.conf of its `ConfigState`; 2 (audit.config) reads only the file. The
official counts user.conf files in a function-level static; Podium keeps the count in a `ConfigState`.
"""

from __future__ import annotations

import dataclasses
import difflib
import enum
import functools
import importlib.resources
import math
import os
import re
import warnings
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from podium.core.errors import ConfigError, shown
from podium.loadgen.settings import MODE_BY_NUMBER, Scenario, TestSettings, field_problem

__all__ = [
    "ConfType",
    "ConfigIssue",
    "ConfigState",
    "ConfigWarning",
    "EINVAL",
    "ENOENT",
    "apply_config",
    "from_config_compat",
    "known_keys",
    "mlperf_conf_text",
]

# Return codes of the official FromConfig (-errno).
ENOENT = -2
EINVAL = -22
_ERROR_KEY = "error_invalid_config"  # detail-log key of every FromConfig error
_MULTIPLE = "Multiple conf files are used. This is not valid for official submission."
_U64 = 1 << 64
_MAX_LINE_BYTES = 1 << 16  # a config line is ~60 bytes; a longer one is refused before it is read whole
_SUGGESTION_CHARS = 120  # a "did you mean" built from a longer key helps nobody
_SCENARIOS = tuple(s.value for s in Scenario)


class ConfType(enum.IntEnum):
    """The official `conf_type` argument of FromConfig."""

    MLPERF = 0  # the embedded mlperf.conf only; the path is ignored (Podium: read when given, strict mode)
    USER = 1  # user.conf; the first one of a state loads the embedded mlperf.conf first
    AUDIT = 2  # audit.config (read by StartTest with model "*"): the file only


class ConfigWarning(UserWarning):
    """A config line that has no effect but is probably harmless (another model's typo, a dead key)."""


@dataclass(frozen=True)
class ConfigIssue:
    """One problem found in a config file; errors become `ConfigError`, the rest `ConfigWarning`s."""

    message: str
    path: str | None = None
    line: int | None = None
    key: str | None = None
    suggestion: str | None = None
    is_error: bool = True

    def __str__(self) -> str:
        return str(self.to_error())

    def to_error(self, more: int = 0) -> ConfigError:
        message = self.message + (f" [and {more} more error(s) in this file]" if more else "")
        suggestion = self.suggestion if self.suggestion and len(self.suggestion) <= _SUGGESTION_CHARS else None
        return ConfigError(message, path=self.path, line=self.line, key=self.key, suggestion=suggestion)


@dataclass
class ConfigState:
    """What the official keeps between FromConfig calls of one process, made explicit.

    `user_conf_count` is the official static `configCount`; `logged_errors` holds the `(key, message)`
    errors the official buffers into the next run's detail log (the engine logs and clears them with
    `take_logged_errors`); `warnings` collects Podium's warnings.
    """

    user_conf_count: int = 0
    logged_errors: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[ConfigIssue] = field(default_factory=list)

    def take_logged_errors(self) -> list[tuple[str, str]]:
        taken, self.logged_errors = self.logged_errors, []
        return taken


# ---- keys: every lookup of FromConfig, in its order -------------------------------------------------------


@dataclass(frozen=True)
class _Key:
    name: str  # the config name, e.g. "target_latency"
    field: str  # the TestSettings field it sets
    kind: str  # u64 | int (C int, then uint64) | f64 | bool1 (== 1) | bool0 (!= 0) | mode
    scope: str | None = None  # fixed scenario it is looked up under; None: the run's scenario
    scale: float = 1.0  # ms -> ns: 1e6; percent -> fraction: 0.01
    mlperf_only: bool = False  # read only in conf_type 0
    when: str | None = None  # read only while this TestSettings field is true


_MS = 1000 * 1000
_KEYS: tuple[_Key, ...] = (
    _Key("mode", "mode", "mode"),
    _Key("qsl_rng_seed", "qsl_rng_seed", "u64", mlperf_only=True),
    _Key("sample_index_rng_seed", "sample_index_rng_seed", "u64", mlperf_only=True),
    _Key("schedule_rng_seed", "schedule_rng_seed", "u64", mlperf_only=True),
    _Key("accuracy_log_probability", "accuracy_log_probability", "f64", scale=0.01, mlperf_only=True),
    _Key("test05", "test05", "bool1", mlperf_only=True),
    _Key("test05_qsl_rng_seed", "test05_qsl_rng_seed", "u64", mlperf_only=True),
    _Key("test05_sample_index_rng_seed", "test05_sample_index_rng_seed", "u64", mlperf_only=True),
    _Key("test05_schedule_rng_seed", "test05_schedule_rng_seed", "u64", mlperf_only=True),
    _Key("use_token_latencies", "use_token_latencies", "bool1"),
    _Key("ttft_latency", "ttft_latency", "u64", "Server", _MS, when="use_token_latencies"),
    _Key("tpot_latency", "tpot_latency", "u64", "Server", _MS, when="use_token_latencies"),
    _Key("infer_token_latencies", "infer_token_latencies", "bool1"),
    _Key("token_latency_scaling_factor", "token_latency_scaling_factor", "u64", when="infer_token_latencies"),
    _Key("target_latency_percentile", "single_stream_target_latency_percentile", "f64", "SingleStream", 0.01),
    _Key("target_latency_percentile", "multi_stream_target_latency_percentile", "f64", "MultiStream", 0.01),
    _Key("samples_per_query", "multi_stream_samples_per_query", "u64", "MultiStream"),
    _Key("target_latency_percentile", "server_target_latency_percentile", "f64", "Server", 0.01),
    _Key("target_latency", "server_target_latency_ns", "u64", "Server", _MS),
    _Key("performance_issue_unique", "performance_issue_unique", "bool0"),
    _Key("performance_issue_same", "performance_issue_same", "bool0"),
    _Key("performance_issue_same_index", "performance_issue_same_index", "u64"),
    _Key("sample_concatenate_permutation", "sample_concatenate_permutation", "bool1"),
    _Key("coalesce_queries", "server_coalesce_queries", "bool0", "Server"),
    _Key("max_async_queries", "server_max_async_queries", "int", "Server"),
    _Key("min_duration", "min_duration_ms", "u64"),
    _Key("max_duration", "max_duration_ms", "u64"),
    _Key("min_query_count", "min_query_count", "u64"),
    _Key("max_query_count", "max_query_count", "u64"),
    _Key("performance_sample_count_override", "performance_sample_count_override", "u64"),
    _Key("accuracy_sample_count_override", "accuracy_sample_count_override", "u64"),
    _Key("target_latency", "single_stream_expected_latency_ns", "f64", "SingleStream", _MS),
    _Key("target_latency", "multi_stream_expected_latency_ns", "f64", "MultiStream", _MS),
    _Key("target_qps", "server_target_qps", "f64", "Server"),
    _Key("target_qps", "offline_expected_qps", "f64", "Offline"),
    _Key("print_timestamps", "print_timestamps", "bool0"),
    _Key("accuracy_log_rng_seed", "accuracy_log_rng_seed", "u64"),
    _Key("accuracy_log_sampling_target", "accuracy_log_sampling_target", "u64"),
)
# In the official mlperf.conf but read by nobody.
_UNREAD_KEYS = frozenset({"target_duration"})
# Read by the compliance scripts (run_verification.py) from audit.config, not by LoadGen: test07_*, test09_*.
_TOOL_KEY = re.compile(r"test(?!05)[0-9]{2}_\w+")


def known_keys() -> tuple[str, ...]:
    """The key names FromConfig reads, sorted."""
    return tuple(sorted({k.name for k in _KEYS}))


# ---- numbers as strtoul / strtoull / strtod (glibc, C locale) read them ----------------------------------

_INT = re.compile(r"[+-]?(?:0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)")  # strtoul, base 0
_DEC = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_HEX = re.compile(r"[+-]?0[xX](?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)(?:[pP][+-]?[0-9]+)?")
_SPECIAL = re.compile(r"[+-]?(?:inf(?:inity)?|nan(?:\([0-9A-Za-z_]*\))?)", re.IGNORECASE)
_WS = re.compile(r"[ \t\n\r\v\f]+")  # C isspace: how `iss >> s` splits tokens


def _is_number(token: str) -> bool:
    """The official value check: all of it parses with strtoul(base 0) or with strtod."""
    return any(p.fullmatch(token) for p in (_INT, _DEC, _HEX, _SPECIAL))


def _parse_uint(digits: str) -> int:
    """Unsigned digits with strtoul's base rule (0x: hex, leading 0: octal); anything >= 2**64 -> 2**64."""
    if digits[1:2] in ("x", "X"):
        value = int(digits[2:], 16)
    elif digits[0] == "0":
        value = int(digits, 8)
    else:
        value = int(digits) if len(digits) <= 20 else _U64
    return min(value, _U64)


def _strtoull(token: str) -> int:
    """strtoull(token, nullptr, 0): the longest integer prefix, 0 if none, ULLONG_MAX on overflow."""
    m = _INT.match(token)
    if not m:
        return 0
    magnitude = min(_parse_uint(m.group().lstrip("+-")), _U64 - 1)
    return (-magnitude) % _U64 if m.group().startswith("-") else magnitude


def _strtod(token: str) -> float:
    """strtod of a whole-number token (the parser stores only tokens that parse whole)."""
    if _SPECIAL.fullmatch(token):
        return float(token.split("(")[0])
    if _HEX.fullmatch(token):
        return float.fromhex(token)
    return float(token)


def _convert(key: _Key, token: str) -> object:
    """FromConfig's lookupkv: `strtoull(v) * uint64(mult)` for integers, `strtod(v) * mult` for doubles."""
    if key.kind == "f64":
        return _strtod(token) * key.scale
    value = (_strtoull(token) * int(key.scale)) % _U64
    if key.kind == "int":  # `server_max_async_queries = int(val)`: wraps to a C int, widens back
        value = (value % (1 << 32) - (1 << 32 if value % (1 << 32) >= 1 << 31 else 0)) % _U64
    elif key.kind == "bool1":
        value = value == 1
    elif key.kind == "bool0":
        value = value != 0
    return value


# ---- applying a parsed file --------------------------------------------------------------------------------


@dataclass
class _Applied:
    settings: TestSettings
    used: dict[str, list[_Key]]  # file key -> the lookups it answered
    skipped: dict[str, str]  # key name -> why FromConfig did not look it up
    logged: list[tuple[str, str]]


def _lookup(kv: dict[str, str], model: str, scenario: str, name: str) -> str | None:
    for key in (f"{model}.{scenario}.{name}", f"*.{scenario}.{name}", f"{model}.*.{name}", f"*.*.{name}"):
        if key in kv:
            return key
    return None


def _apply(settings: TestSettings, kv: dict[str, str], model: str, scenario: str, conf_type: int) -> _Applied:
    """The lookups of FromConfig, in its order (ttft/tpot depend on use_token_latencies set just before)."""
    out = _Applied(settings.copy(), {}, {}, [])
    for key in _KEYS:
        if key.mlperf_only and conf_type != ConfType.MLPERF:
            out.skipped[key.name] = "is read only from mlperf.conf (conf_type 0)"
            continue
        if key.when and not getattr(out.settings, key.when):
            out.skipped[key.name] = f"is read only when {key.when} = 1"
            continue
        found = _lookup(kv, model, key.scope or scenario, key.name)
        if found is None:
            continue
        out.used.setdefault(found, []).append(key)
        value = _convert(key, kv[found])
        if key.kind != "mode":
            setattr(out.settings, key.field, value)
        elif value in MODE_BY_NUMBER:
            out.settings.mode = MODE_BY_NUMBER[value]
        else:
            out.logged.append((_ERROR_KEY, "Invalid value passed to Mode key in config."))
    return out


def _scan_official(text: str) -> tuple[dict[str, str], list[str]]:
    """FromConfig's "dirt simple config parser", token by token, with its quirks."""
    kv: dict[str, str] = {}
    errors: list[str] = []
    for number, line in enumerate(text.split("\n"), 1):  # std::getline
        key, looking_for = "", 0  # 0: key, 1: '=', 2: value
        for token in filter(None, _WS.split(line)):
            if token == "#" and looking_for != 2:
                break
            if looking_for == 2:  # every further token is a value too: the last one wins
                if _is_number(token):
                    kv[key] = token
                    continue
                errors.append(f"value needs to be integer or double, line={number}")
                break
            if looking_for == 1 and token != "=":
                errors.append(f"expected 'key=value', line={number}")
                break
            if looking_for == 0:
                key = token
            looking_for += 1
    return kv, errors


@functools.cache
def mlperf_conf_text() -> str:
    """The shipped mlperf.conf (the official 6.0.17 values)."""
    return importlib.resources.files("podium.loadgen").joinpath("data/mlperf.conf").read_text("utf-8")


@functools.cache
def _mlperf_conf_kv() -> dict[str, str]:
    return _scan_official(mlperf_conf_text())[0]


def _base_conf_kv(path: str) -> dict[str, str]:
    """An mlperf.conf given as the base of a user.conf; it must parse cleanly."""
    kv, errors = _scan_official(_read_config(path))
    if errors:
        raise ConfigError(errors[0], path=path)
    return kv


def _read_text(path: str | Path) -> str:
    return Path(path).read_bytes().decode("utf-8", errors="surrogateescape")  # bytes as the official sees them


def _read_config(path: str) -> str:
    """A config file's text for the strict reader, line by line: a line over 64 KiB is refused unread."""
    lines = []
    try:
        with open(path, "rb") as f:
            for number, line in enumerate(iter(lambda: f.readline(_MAX_LINE_BYTES + 1), b""), 1):
                if len(line.rstrip(b"\n")) > _MAX_LINE_BYTES:
                    start = shown(line[:24].decode("utf-8", errors="replace"))
                    raise ConfigError(f"line longer than {_MAX_LINE_BYTES:,} bytes (starts {start}); a config "
                                      "line is 'model.scenario.key = value'", path=path, line=number)
                lines.append(line)
    except OSError as e:
        raise ConfigError(f"cannot read config file: {e.strerror or e}", path=path) from None
    return b"".join(lines).decode("utf-8", errors="surrogateescape")


# ---- the official behaviour ----------------------------------------------------------------------------------


def from_config_compat(settings: TestSettings, path: str | Path, model: str, scenario: str,
                       conf_type: int = 1, *, state: ConfigState) -> int:
    """Official FromConfig: updates `settings` in place and returns 0, -2 (file not opened) or -22.

    Errors the official logs go to `state.logged_errors`; as in the official, the embedded mlperf.conf is
    applied (first user.conf of the state) even when the file then fails, and a failing file changes nothing.
    """
    scenario = scenario.value if isinstance(scenario, Scenario) else scenario
    if conf_type == ConfType.USER:
        if state.user_conf_count == 0:
            from_config_compat(settings, "", model, scenario, ConfType.MLPERF, state=state)
        else:
            state.logged_errors.append((_ERROR_KEY, _MULTIPLE))
        state.user_conf_count += 1
    errors: list[str]
    if conf_type == ConfType.MLPERF:
        kv, errors = _mlperf_conf_kv(), []
    else:
        text = _open_official(str(path))
        if text is None:
            state.logged_errors.append((_ERROR_KEY, f"can't open file {path}"))
            return ENOENT
        kv, errors = _scan_official(text)
    state.logged_errors.extend((_ERROR_KEY, e) for e in errors)
    if errors:
        return EINVAL
    applied = _apply(settings, kv, model, scenario, conf_type)
    for f in dataclasses.fields(TestSettings):
        setattr(settings, f.name, getattr(applied.settings, f.name))
    state.logged_errors.extend(applied.logged)
    return 0


def _open_official(path: str) -> str | None:
    """std::ifstream(path): None when it does not open; a directory opens and reads as empty."""
    if not path or "\0" in path:
        return None
    if os.path.isdir(path):
        return ""
    try:
        return _read_text(path)
    except OSError:
        return None


# ---- Podium's strict reading -----------------------------------------------------------------------------


def apply_config(settings: TestSettings, path: str | Path | None, model: str, scenario: str | Scenario,
                 conf_type: int = ConfType.USER, state: ConfigState | None = None,
                 base_conf: str | Path | None = None) -> TestSettings:
    """Return `settings` updated from a config file; raise `ConfigError` for anything the official would
    ignore, misread or reject (see the module docstring). `settings` is not changed.

    conf_type 1 loads the shipped mlperf.conf first on a state's first user.conf; a second user.conf on
    the same state is an error (the official logs "Multiple conf files are used" and the submission
    checker rejects the run). conf_type 0 with no path applies the shipped mlperf.conf; with a path it
    reads that file with mlperf.conf's rights (the official ignores the path). Warnings go to
    `state.warnings` and to the `warnings` module.
    """
    state = state if state is not None else ConfigState()
    path = str(path) if path else None
    scenario_name, conf_type = _check_call(path, model, scenario, conf_type, state)
    base = settings.copy()
    if conf_type == ConfType.USER or (conf_type == ConfType.MLPERF and not path):
        kv = _mlperf_conf_kv() if base_conf is None else _base_conf_kv(str(base_conf))
        base = _apply(base, kv, model, scenario_name, ConfType.MLPERF).settings
    issues = _model_issues(model)
    if path:
        base, file_issues = _apply_strict(base, path, model, scenario_name, conf_type)
        issues += file_issues
    errors = [i for i in issues if i.is_error]
    if errors:
        raise errors[0].to_error(len(errors) - 1)
    for issue in issues:
        state.warnings.append(issue)
        warnings.warn(str(issue), ConfigWarning, stacklevel=2)
    if conf_type == ConfType.USER:
        state.user_conf_count += 1
    return base


def _check_call(path: str | None, model: str, scenario: str | Scenario, conf_type: int,
                state: ConfigState) -> tuple[str, ConfType]:
    if conf_type not in tuple(ConfType):
        raise ConfigError("conf_type must be 0 (mlperf.conf), 1 (user.conf) or 2 (audit.config), "
                          f"not {conf_type!r}", path=path)
    kind = ConfType(conf_type)
    try:
        scenario_name = scenario.value if isinstance(scenario, Scenario) else Scenario.parse(scenario).value
    except ValueError as e:
        raise ConfigError(str(e), path=path) from None
    if not model:
        raise ConfigError("model name is empty; use '*' to read only the wildcard entries", path=path)
    if not path and kind != ConfType.MLPERF:
        raise ConfigError(f"conf_type {int(kind)} needs a file path")
    if kind == ConfType.USER and state.user_conf_count:
        raise ConfigError("a second user.conf in one run: the official LoadGen logs 'Multiple conf files are "
                          "used' and the submission checker rejects the run; merge the files, or read "
                          "overrides as an audit.config (conf_type 2)", path=path)
    return scenario_name, kind


@functools.cache
def _models() -> frozenset[str]:
    return frozenset(k.rsplit(".", 2)[0] for k in _mlperf_conf_kv())


def _model_issues(model: str) -> list[ConfigIssue]:
    """A model name close to, but not one of, mlperf.conf's models is probably a typo: warn."""
    close = [] if model in _models() else difflib.get_close_matches(model, sorted(_models()), 1, 0.8)
    return [ConfigIssue(f"model {model!r} has no settings in mlperf.conf; only the '*' defaults apply",
                        suggestion=close[0], is_error=False)] if close else []


def _apply_strict(base: TestSettings, path: str, model: str, scenario: str,
                  conf_type: ConfType) -> tuple[TestSettings, list[ConfigIssue]]:
    kv, lines, issues = _scan_strict(_read_config(path), path)
    applied = _apply(base, kv, model, scenario, conf_type)
    for key, value in kv.items():
        issue = _check_entry(key, value, applied, model, scenario, conf_type)
        if issue is not None:
            issues.append(dataclasses.replace(issue, path=path, line=lines[key], key=key))
    issues.sort(key=lambda i: (not i.is_error, i.line or 0))
    return applied.settings, issues


def _scan_strict(text: str, path: str) -> tuple[dict[str, str], dict[str, int], list[ConfigIssue]]:
    """Only `key = value` lines and `# ...` comment lines; anything else is an error naming its line."""
    kv: dict[str, str] = {}
    lines: dict[str, int] = {}
    issues: list[ConfigIssue] = []
    for number, line in enumerate(text.split("\n"), 1):
        tokens = [t for t in _WS.split(line) if t]
        if not tokens or tokens[0] == "#" or (len(tokens) == 1 and tokens[0].startswith("#")):
            continue
        problem = _line_problem(tokens)
        if problem:
            key = tokens[0].split("=")[0] or None
            issues.append(ConfigIssue(problem, path, number, key))
            continue
        key = tokens[0]
        if key in kv:
            issues.append(ConfigIssue(f"repeats line {lines[key]}; this line wins", path, number, key,
                                      is_error=False))
        kv[key], lines[key] = tokens[2], number
    return kv, lines, issues


def _line_problem(tokens: list[str]) -> str | None:
    if tokens[0].startswith("#"):
        return "a comment needs '#' then a space; the official LoadGen rejects this line"
    if len(tokens) == 1:
        if "=" in tokens[0]:
            return "write 'key = value' with spaces around '='; the official LoadGen silently ignores this line"
        return "expected 'key = value'"
    if tokens[1] != "=":
        return "expected 'key = value' (with spaces around '=')"
    if len(tokens) == 2:
        return "missing value after '='"
    if not _is_number(tokens[2]):
        return f"value {shown(tokens[2])} is not an integer or a number"
    if len(tokens) > 3:
        if tokens[3].startswith("#"):
            return "trailing comment: the official LoadGen rejects the whole file; put comments on their own line"
        return "one value per line (the official LoadGen keeps the last one)"
    return None


# ---- strict checks of one file entry ------------------------------------------------------------------------

_NAMES = frozenset(k.name for k in _KEYS)
_SCOPES = {name: {k.scope for k in _KEYS if k.name == name} for name in _NAMES}
_MODE_HELP = "0 (SubmissionRun), 1 (AccuracyOnly), 2 (PerformanceOnly) or 3 (FindPeakPerformance)"


def _check_entry(key: str, value: str, applied: _Applied, model: str, scenario: str,
                 conf_type: ConfType) -> ConfigIssue | None:
    """Why a file entry is wrong or has no effect; None when it is fine (or shadowed by a closer key)."""
    if key in applied.used:  # check the value against every lookup it answered (f64 and u64 alike)
        problems = [(_float_problem if k.kind == "f64" else _int_problem)(k, value) for k in applied.used[key]]
        return next((ConfigIssue(p) for p in problems if p), None)
    parts = key.rsplit(".", 2)
    if len(parts) < 3 or not parts[0]:
        return _shape_issue(key)
    m, s, name = parts
    concerns = m in ("*", model)  # the line is for this run's model
    if name not in _NAMES | _UNREAD_KEYS:
        if _TOOL_KEY.fullmatch(name):
            return None
        hint = _closest(name, _NAMES)
        return ConfigIssue(f"unknown key {shown(name)}", suggestion=hint and f"{m}.{s}.{hint}",
                           is_error=concerns and s in ("*", scenario))
    if s != "*" and s not in _SCENARIOS:
        hint = _closest_scenario(s)
        return ConfigIssue(f"unknown scenario {shown(s)} (names are case-sensitive)",
                           suggestion=hint and f"{m}.{hint}.{name}", is_error=concerns)
    if not concerns:
        return _other_model_issue(m, s, name, model)
    return _scope_issue(name, s, applied, scenario, conf_type)


def _scope_issue(name: str, s: str, applied: _Applied, scenario: str, conf_type: ConfType) -> ConfigIssue | None:
    if name in _UNREAD_KEYS:
        if conf_type == ConfType.MLPERF:
            return None
        return ConfigIssue(f"{name!r} is not read by LoadGen; this line has no effect", is_error=False)
    reason = applied.skipped.get(name, "")
    if reason.startswith("is read only from mlperf.conf"):
        return ConfigIssue(f"{name!r} {reason}; the official LoadGen ignores it here")
    scopes = _SCOPES[name]
    if None in scopes:  # looked up under the run's scenario
        if s not in ("*", scenario):
            return None  # another scenario's setting
    elif s != "*" and s not in scopes:
        if conf_type == ConfType.MLPERF:
            return None  # the official mlperf.conf itself sets *.Offline.target_latency_percentile: not the user's
        read_for = ", ".join(sorted(x for x in scopes if x))
        return ConfigIssue(f"{name!r} is read only for {read_for}, not {s}; the official LoadGen ignores this "
                           "line", is_error=s == scenario)
    if reason:
        return ConfigIssue(f"{name!r} {reason}; the official LoadGen ignores this line")
    return None  # shadowed by a more specific key for this model and scenario


def _float_problem(key: _Key, token: str) -> str | None:
    x = _strtod(token) * key.scale
    if not math.isfinite(x):
        return f"{key.name} must be a finite number, not {shown(token)}"
    if key.name == "target_latency_percentile" and not 0.0 < x < 1.0:
        return f"{key.name} is a percent between 0 and 100 (exclusive), not {_cut(token)}"
    if key.name in ("target_qps", "target_latency") and x <= 0.0:
        return f"{key.name} must be > 0 for {key.scope}, not {_cut(token)}"
    return _range_problem(key, token)


def _int_problem(key: _Key, token: str) -> str | None:
    exact = _exact_integer(token)
    read_as = f"the official LoadGen reads {shown(token)} as {_strtoull(token)}"
    if exact is None:
        octal = token.lstrip("+-")[:1] == "0" and bool(_INT.fullmatch(token))
        return f"{key.name} takes an integer: {read_as}" + (" (a leading 0 means octal)" if octal else "")
    if exact < 0:
        return f"{key.name} must not be negative: {read_as}"
    scaled = exact * int(key.scale)
    if key.kind == "mode" and scaled > 3:
        return f"mode must be {_MODE_HELP}, not {_cut(token)}"
    if key.kind in ("bool0", "bool1") and scaled > 1:
        return f"{key.name} is 0 or 1, not {_cut(token)}"
    if key.kind == "int" and scaled >= 1 << 31:
        return f"{key.name} must be < 2**31 (the official stores it in a C int), not {_cut(token)}"
    if scaled >= _U64:
        unit = " ms in nanoseconds" if key.scale != 1 else ""
        return f"{key.name} = {_cut(token)}{unit} exceeds the 64-bit range"
    return _range_problem(key, token)


def _range_problem(key: _Key, token: str) -> str | None:
    """The value read, checked against its setting's range (the checks the engine makes before a run)."""
    if key.kind == "mode":
        return None
    problem = field_problem(key.field, _convert(key, token))
    return problem and f"{key.name} = {_cut(token)}: {problem}"


def _cut(token: str) -> str:
    """A number as written, cut like `shown` when it is absurdly long."""
    return token if len(token) <= 80 else shown(token)


def _exact_integer(token: str) -> int | None:
    """The integer `token` denotes if strtoull reads that integer (sign aside): None for `010` (octal 8),
    `1.5` and `1e3` (truncated), inf and nan. Values of 2**64 and more come back as 2**64."""
    sign, body = (-1 if token.startswith("-") else 1), token.lstrip("+-")
    if _INT.fullmatch(token):
        octal = body[:1] == "0" and body[1:2] not in ("x", "X") and len(body.lstrip("0")) > 1
        return None if octal else sign * _parse_uint(body)
    if _DEC.fullmatch(token) and Decimal(body) == _strtoull(body):
        return sign * _strtoull(body)
    return None


def _shape_issue(key: str) -> ConfigIssue:
    *lead, name = key.split(".")
    hint = name if name in _NAMES else _closest(name, _NAMES)
    if hint and not lead:
        hint = f"*.*.{hint}"
    elif hint and len(lead) == 1:  # `scenario.name` or `model.name`
        hint = f"*.{lead[0]}.{hint}" if lead[0] in _SCENARIOS else f"{lead[0]}.*.{hint}"
    return ConfigIssue("a key is 'model.scenario.name' ('*' matches any model or scenario); "
                       "the official LoadGen ignores this line", suggestion=hint)


def _other_model_issue(m: str, s: str, name: str, model: str) -> ConfigIssue | None:
    """Lines for other models are normal; one for a near-miss of this run's model is probably a typo."""
    if model == "*" or m in _models() or not difflib.get_close_matches(m, [model], 1, 0.8):
        return None
    return ConfigIssue(f"model {shown(m)} is not this run's model {model!r}; this line does not apply",
                       suggestion=f"{model}.{s}.{name}", is_error=False)


def _closest(word: str, choices: frozenset[str]) -> str | None:
    close = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=0.6)
    return close[0] if close else None


def _closest_scenario(word: str) -> str | None:
    same = [s for s in _SCENARIOS if s.lower() == word.replace("-", "").replace("_", "").lower()]
    return same[0] if same else _closest(word, frozenset(_SCENARIOS))
