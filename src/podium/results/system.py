"""System descriptions (`systems/<id>.json`): the fields each round wants, validation, writing, and `capture`.

Field lists are facts of the official checkers (shared/reference/inference_suite.md §4.2, training.md §4.4):
the inference checker of v5.0 onwards (constants.py SYSTEM_DESC_*) requires 35 fields, a subset of them non-empty
("meaningful"); the v0.5–v1.x checker required 16 and listed the rest as optional. The list of rounds v2.0–v4.1 is
taken to be the current one (Podium has no per-round copy for them). Training's package checker wants 33 fields
(`podium.training.submission_layout.SYSTEM_FIELDS`) and its own status spellings.

`capture` fills every field: defaults a person decides, then what `podium.core.host` finds on this
machine (best effort, never raises). What cannot be detected is written as "N/A", as the official samples do, and
`validate` notes it (info) where the checker wants a meaningful answer, so that a person fills it in. A count of
zero is written as the string "0": the official checker treats the number 0 as an empty answer.
"""

from __future__ import annotations

import enum
import json
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from podium.core.files import atomic_write_json
from podium.results.checker.finding import Finding, error, info, warning
from podium.core.host import NOT_DETECTED, probe_host
from podium.training.submission_layout import SYSTEM_FIELDS as TRAINING_FIELDS

# Inference checker v5.0+ (constants.py SYSTEM_DESC_REQUIRED_FIELDS), in its order.
INFERENCE_FIELDS = (
    "division", "submitter", "status", "system_name", "number_of_nodes", "host_processor_model_name",
    "host_processors_per_node", "host_processor_core_count", "host_memory_capacity", "host_storage_capacity",
    "host_storage_type", "accelerators_per_node", "accelerator_model_name", "accelerator_memory_capacity",
    "framework", "operating_system", "system_type", "other_software_stack", "host_processor_frequency",
    "host_processor_caches", "host_memory_configuration", "host_processor_interconnect", "host_networking",
    "host_networking_topology", "accelerator_frequency", "accelerator_host_interconnect", "accelerator_interconnect",
    "accelerator_interconnect_topology", "accelerator_memory_configuration", "accelerator_on-chip_memories",
    "cooling", "hw_notes", "sw_notes", "host_network_card_count", "system_type_detail",
)
# Fields whose answer must not be empty (SYSTEM_DESC_MEANINGFUL_RESPONSE_REQUIRED_FIELDS).
MEANINGFUL_FIELDS = frozenset((
    "division", "submitter", "system_type", "status", "system_name", "number_of_nodes", "host_processor_model_name",
    "host_processors_per_node", "host_processor_core_count", "host_memory_capacity", "host_memory_configuration",
    "host_storage_capacity", "host_storage_type", "host_networking", "host_network_card_count",
    "host_networking_topology", "accelerators_per_node", "accelerator_model_name", "accelerator_memory_capacity",
    "accelerator_host_interconnect", "accelerator_memory_configuration", "accelerator_interconnect", "cooling",
    "framework", "operating_system", "other_software_stack",
))
# v0.5–v1.x checker: these 16 were required, the others optional.
EARLY_REQUIRED_FIELDS = INFERENCE_FIELDS[:16]
ALL_FIELDS = tuple(dict.fromkeys(INFERENCE_FIELDS + TRAINING_FIELDS))

INFERENCE_STATUSES = ("available", "preview", "rdi")
TRAINING_STATUSES = ("Available on-premise", "Available cloud", "Research, Development, or Internal (RDI)", "Preview")
TRAINING_STATUS_BY_AVAILABILITY = {"available": "Available on-premise", "preview": "Preview",
                                   "rdi": "Research, Development, or Internal (RDI)"}
SYSTEM_TYPES = ("datacenter", "edge", "datacenter,edge", "edge,datacenter")
# The registry's category key of each system type (Benchmark.checker_scenarios), and the order in which a build
# picks one for its benchmarks when the description's has no required scenarios for one of them.
CATEGORY_OF_TYPE = {"datacenter": "datacenter", "edge": "edge", "datacenter,edge": "datacenter_edge",
                    "edge,datacenter": "datacenter_edge"}
SYSTEM_TYPE_CHOICES = ("edge", "datacenter", "datacenter,edge")
# Fields the inference checker knows besides the required ones (SYSTEM_DESC_REQUIRED_FIELDS_POWER, _NETWORK_MODE):
# any other field of a description (training's host_processor_vcpu_count) is "unknown" to it.
POWER_FIELDS = (
    "power_management", "filesystem", "boot_firmware_version", "management_firmware_version", "other_hardware",
    "number_of_type_nics_installed", "nics_enabled_firmware", "nics_enabled_os", "nics_enabled_connected",
    "network_speed_mbit", "power_supply_quantity_and_rating_watts", "power_supply_details", "disk_drives",
    "disk_controllers", "system_power_only",
)
NETWORK_FIELDS = (
    "is_network", "network_type", "network_media", "network_rate", "nic_loadgen", "number_nic_loadgen",
    "net_software_stack_loadgen", "network_protocol", "number_connections", "nic_sut", "number_nic_sut",
    "net_software_stack_sut", "network_topology",
)
INFERENCE_KNOWN_FIELDS = frozenset(INFERENCE_FIELDS + POWER_FIELDS + NETWORK_FIELDS)
ACCELERATOR_FIELDS = frozenset(f for f in ALL_FIELDS if f.startswith("accelerator_"))


class Usage(enum.Enum):
    """Which suite a description is checked for: the field lists and status spellings differ."""

    INFERENCE = "inference"
    TRAINING = "training"


# ---------------------------------------------------------------- capture

def capture(system_id: str, **overrides: Any) -> dict[str, Any]:
    """This machine's description: every inference and training field, probed facts, then `overrides`.

    Defaults a person decides rather than the machine: division "closed", submitter "Podium", status
    "available", system_type "datacenter", system_name = the id (`podium submission build` sets submitter,
    division and, when asked, status and system_type). Field names with a hyphen
    (`accelerator_on-chip_memories`) are passed as `**{"name": value}`.
    """
    desc: dict[str, Any] = {name: "" for name in ALL_FIELDS}
    desc.update({
        "division": "closed", "submitter": "Podium", "status": "available", "system_name": system_id,
        "system_type": "datacenter", "system_type_detail": NOT_DETECTED, "number_of_nodes": 1,
        "cooling": NOT_DETECTED, "host_memory_configuration": NOT_DETECTED,
        "host_networking_topology": NOT_DETECTED,
    })
    desc.update(probe_host())
    desc.update(overrides)   # extra fields (power, network mode) are allowed: MLPerf defines more than required
    return desc


def for_inference(desc: Mapping[str, Any]) -> dict[str, Any]:
    """The description as an inference package carries it: without the fields only training's checker wants
    (host_processor_vcpu_count), which the inference checker reports as unknown."""
    return {k: v for k, v in desc.items() if k in INFERENCE_KNOWN_FIELDS or k not in TRAINING_FIELDS}


def fits(system_type: str, benchmarks: Iterable[Any]) -> bool:
    """Whether every benchmark (the registry's) has required scenarios in the category of `system_type`; the
    checker has no rule for a benchmark outside its system's category (ResNet-50 in datacenter, from v5.1)."""
    key = CATEGORY_OF_TYPE.get(system_type)
    return key is not None and all(b.checker_scenarios(key) for b in benchmarks)


def choose_system_type(current: str | None, scenarios: Mapping[Any, set[str]]) -> str | None:
    """The system type the package's results make whole (`scenarios`: registry benchmark -> the scenarios
    present): `current` when it fits the benchmarks and its required scenarios are all present, else the first of
    SYSTEM_TYPE_CHOICES that does (SingleStream, MultiStream and Offline of ResNet-50 in v4.1 make an edge
    system, whatever the description's default said); when none is whole, `current` if it fits, else the first
    that fits; None when none does."""
    fitting = [t for t in SYSTEM_TYPE_CHOICES if fits(t, scenarios)]
    complete = [t for t in fitting if all(set(b.checker_scenarios(CATEGORY_OF_TYPE[t])) <= present
                                          for b, present in scenarios.items())]
    if current is not None and current in complete:
        return current
    if complete:
        return complete[0]
    if current is not None and fits(current, scenarios):
        return current
    return (fitting or [None])[0]


# ---------------------------------------------------------------- files

def write(path: str | os.PathLike[str], desc: Mapping[str, Any]) -> Path:
    """Write a description atomically with the result files' mode, keys sorted as the official samples; an
    OSError is an OutputError naming `path`."""
    return atomic_write_json(path, dict(sorted(desc.items())))


def load(path: str | os.PathLike[str]) -> dict[str, Any]:
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a system description is a JSON object")
    return data


# ---------------------------------------------------------------- validation

def round_key(round_name: str) -> tuple[int, int]:
    """"v4.1" -> (4, 1); Podium's own rounds ("tiny-v1") follow the current rules."""
    match = re.fullmatch(r"v(\d+)\.(\d+)", round_name)
    return (int(match.group(1)), int(match.group(2))) if match else (99, 0)


def required_fields(round_name: str, usage: Usage = Usage.INFERENCE) -> tuple[str, ...]:
    if usage is Usage.TRAINING:
        return TRAINING_FIELDS
    return EARLY_REQUIRED_FIELDS if round_key(round_name) < (2, 0) else INFERENCE_FIELDS


def validate(desc: Mapping[str, Any], round: str = "v6.1", usage: Usage = Usage.INFERENCE,
             path: str = "") -> list[Finding]:
    """Findings on a description: required fields, non-empty answers, status and system type values."""
    findings = [error("system.fields", path, f"field {name!r} is missing")
                for name in required_fields(round, usage) if name not in desc]
    findings += _meaningful(desc, round, usage, path)
    findings += _status(desc, usage, path)
    findings += unknown_fields(desc, path)
    if usage is Usage.INFERENCE and round_key(round) >= (2, 0):
        kind = desc.get("system_type")
        if kind is not None and str(kind) not in SYSTEM_TYPES:
            findings.append(error("system.fields", path,
                                  f"field 'system_type' is {kind!r}; one of {', '.join(SYSTEM_TYPES)}"))
    return findings


def _is_empty(value: Any) -> bool:
    """As the official checker decides (`not value`): None, "", and the number 0 are empty."""
    if isinstance(value, str):
        return not value.strip()
    return value is None or value == 0


def _meaningful(desc: Mapping[str, Any], round: str, usage: Usage, path: str) -> list[Finding]:
    if usage is Usage.TRAINING or round_key(round) < (5, 0):
        return []   # training: empty strings are accepted (reference §4.2); old rounds had no such check
    no_accelerator = str(desc.get("accelerators_per_node", "")).strip() in ("0", "")
    out = []
    for name in sorted(MEANINGFUL_FIELDS & desc.keys()):
        value = desc[name]
        if _is_empty(value):
            hint = ' (the official checker treats the number 0 as empty: write "0")' if value == 0 else ""
            out.append(error("system.fields", path, f"field {name!r} needs a meaningful answer{hint}"))
        elif str(value).strip() == NOT_DETECTED and not (no_accelerator and name in ACCELERATOR_FIELDS):
            out.append(info("system.fields", path, f"field {name!r} is {NOT_DETECTED!r}: fill it in by hand"))
    return out


def _status(desc: Mapping[str, Any], usage: Usage, path: str) -> list[Finding]:
    status = desc.get("status")
    if status is None:
        return []
    if usage is Usage.TRAINING:
        ok, allowed = status in TRAINING_STATUSES, TRAINING_STATUSES
    else:
        ok, allowed = str(status).lower() in INFERENCE_STATUSES, INFERENCE_STATUSES
    if ok:
        return []
    return [error("system.fields", path, f"field 'status' is {status!r}; one of {', '.join(allowed)}")]


def apply_settings(desc: Mapping[str, Any], settings: Iterable[str]) -> dict[str, Any]:
    """`key=value` edits (from `--set`); numbers stay text unless the field held a number."""
    out = dict(desc)
    for item in settings:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--set wants key=value, got {item!r}")
        key = key.strip()
        out[key] = int(value) if isinstance(out.get(key), int) and value.strip().isdigit() else value
    return out


def unknown_fields(desc: Mapping[str, Any], path: str = "") -> list[Finding]:
    """Keys no checker knows (a typo, usually): a warning each, with the nearest known name."""
    import difflib

    out = []
    for name in sorted(set(desc) - set(ALL_FIELDS)):
        close = difflib.get_close_matches(name, ALL_FIELDS, n=1, cutoff=0.8)
        if close:
            out.append(warning("system.fields", path, f"field {name!r} is unknown (did you mean {close[0]!r}?)"))
    return out
