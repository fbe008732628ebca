"""System descriptions (`systems/<id>.json`): capture this machine into MLPerf's fields, write, validate per round.

Field lists are facts of the official checkers (shared/reference/inference_suite.md §4.2, training.md §4.4):
the inference checker of v5.0 onwards (constants.py SYSTEM_DESC_*) requires 35 fields, a subset of them non-empty
("meaningful"); the v0.5–v1.x checker required 16 and listed the rest as optional. The list of rounds v2.0–v4.1 is
taken to be the current one (Podium has no per-round copy for them). Training's package checker wants 33 fields
(`podium.training.submission_layout.SYSTEM_FIELDS`) and its own status spellings.

Capture is best effort and never raises: lscpu, /proc, /sys, lsblk, NVML (pynvml) or nvidia-smi, package metadata.
What cannot be detected is written as "N/A", as the official samples do, and `validate` notes it (info) where the
checker wants a meaningful answer, so that a person fills it in. A count of zero is written as the string "0":
the official checker treats the number 0 as an empty answer.
"""

from __future__ import annotations

import enum
import json
import os
import platform
import re
import shutil
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from podium.core.files import atomic_write_json
from podium.results.checker.finding import Finding, error, info, warning
from podium.training.submission_layout import SYSTEM_FIELDS as TRAINING_FIELDS

NOT_DETECTED = "N/A"
MEMORY_KIND = re.compile(r"\b(HBM\d?e?|GDDR\d+X?|LPDDR\d+X?)\b", re.I)
PROBE_TIMEOUT_S = 5

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
ACCELERATOR_FIELDS = frozenset(f for f in ALL_FIELDS if f.startswith("accelerator_"))


class Usage(enum.Enum):
    """Which suite a description is checked for: the field lists and status spellings differ."""

    INFERENCE = "inference"
    TRAINING = "training"


@dataclass(frozen=True)
class Accelerator:
    """One accelerator as NVML or nvidia-smi reports it."""

    name: str
    memory_bytes: int | None = None
    max_clock_mhz: int | None = None
    host_link: str | None = None     # e.g. "PCIe Gen5 x16"


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


def probe_host() -> dict[str, Any]:
    """The fields this machine reveals: CPU, memory, storage, network, OS, accelerators, software."""
    facts: dict[str, Any] = {}
    facts.update(cpu_fields(lscpu_fields(_run(["lscpu", "-J"])), _read("/proc/cpuinfo")))
    facts.update(memory_fields(_read("/proc/meminfo")))
    facts.update(storage_fields(_run(["lsblk", "-J", "-b", "-d", "-o", "NAME,SIZE,ROTA,TYPE,TRAN"])))
    facts.update(network_fields(Path("/sys/class/net")))
    facts["operating_system"] = operating_system(_read("/etc/os-release"))
    facts.update(accelerator_fields(detect_accelerators()))
    facts.update(software_fields())
    return facts


def _run(argv: list[str]) -> str | None:
    if shutil.which(argv[0]) is None:
        return None
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=PROBE_TIMEOUT_S)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def _read(path: str | Path) -> str:
    try:
        return Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def lscpu_fields(text: str | None) -> dict[str, str]:
    """`lscpu -J` output as {field name without ':' : value}; nested `children` entries are flattened."""
    if not text:
        return {}
    try:
        entries = json.loads(text).get("lscpu", [])
    except ValueError:
        return {}
    out: dict[str, str] = {}

    def walk(items: Iterable[Mapping[str, Any]]) -> None:
        for e in items:
            name = str(e.get("field", "")).strip().rstrip(":")
            if name and e.get("data") is not None:
                out.setdefault(name, str(e["data"]))
            walk(e.get("children", ()))

    walk(entries)
    return out


def _cpuinfo(cpuinfo: str, key: str) -> list[str]:
    values = []
    for line in cpuinfo.splitlines():
        k, sep, v = line.partition(":")
        if sep and k.strip() == key:
            values.append(v.strip())
    return values


def _int(text: str | None) -> int | None:
    try:
        return int(str(text).strip())
    except (TypeError, ValueError):
        return None


def cpu_fields(lscpu: Mapping[str, str], cpuinfo: str,
               sysfs: Path = Path("/sys/devices/system/cpu/cpu0")) -> dict[str, Any]:
    """Host processor fields from lscpu (preferred), /proc/cpuinfo and sysfs."""
    model = lscpu.get("Model name") or next(iter(_cpuinfo(cpuinfo, "model name")), "") \
        or platform.processor() or platform.machine()
    sockets = _int(lscpu.get("Socket(s)")) or len(set(_cpuinfo(cpuinfo, "physical id"))) or 1
    vcpus = os.cpu_count() or 1
    cores = _int(lscpu.get("Core(s) per socket")) or _int(next(iter(_cpuinfo(cpuinfo, "cpu cores")), None)) \
        or max(1, vcpus // sockets)
    return {"host_processor_model_name": model, "host_processors_per_node": sockets,
            "host_processor_core_count": cores, "host_processor_vcpu_count": vcpus,
            "host_processor_frequency": _frequency(lscpu, cpuinfo, sysfs),
            "host_processor_caches": _caches(lscpu, sysfs),
            "hw_notes": _hw_notes(lscpu)}


def _frequency(lscpu: Mapping[str, str], cpuinfo: str, sysfs: Path) -> str:
    mhz: float | None = None
    try:
        mhz = float(lscpu["CPU max MHz"])
    except (KeyError, ValueError):
        khz = _int(_read(sysfs / "cpufreq" / "cpuinfo_max_freq"))
        if khz:
            mhz = khz / 1000
        else:
            try:
                mhz = float(_cpuinfo(cpuinfo, "cpu MHz")[0])
            except (IndexError, ValueError):
                return NOT_DETECTED
    return f"{mhz:.0f} MHz"


def _caches(lscpu: Mapping[str, str], sysfs: Path) -> str:
    named = [f"{k.removesuffix(' cache')}: {v}" for k, v in lscpu.items() if re.fullmatch(r"L\d\w? cache", k)]
    if named:
        return ", ".join(named)
    parts = []
    for index in sorted((sysfs / "cache").glob("index*")):
        level, kind, size = (_read(index / n).strip() for n in ("level", "type", "size"))
        suffix = {"Data": "d", "Instruction": "i"}.get(kind, "")
        if level and size:
            parts.append(f"L{level}{suffix}: {size} per core group")
    return ", ".join(parts) or NOT_DETECTED


def _hw_notes(lscpu: Mapping[str, str]) -> str:
    vendor = lscpu.get("Hypervisor vendor")
    return f"virtual machine ({vendor} hypervisor)" if vendor else ""


def _gib(n_bytes: float) -> str:
    gib = n_bytes / 2**30
    return f"{gib:.0f} GiB" if gib >= 10 else f"{gib:.1f} GiB"


def memory_fields(meminfo: str) -> dict[str, Any]:
    match = re.search(r"^MemTotal:\s+(\d+)\s*kB", meminfo, re.M)
    return {"host_memory_capacity": _gib(int(match.group(1)) * 1024) if match else NOT_DETECTED}


def storage_fields(lsblk_json: str | None) -> dict[str, Any]:
    """Total size and kinds of the physical disks (lsblk), else the root filesystem's size."""
    disks = []
    try:
        disks = [d for d in json.loads(lsblk_json or "{}").get("blockdevices", [])
                 if d.get("type") == "disk" and int(d.get("size") or 0) > 0
                 and not str(d.get("name", "")).startswith(("zram", "loop", "ram"))]
    except (ValueError, TypeError):
        disks = []
    if not disks:
        total = shutil.disk_usage("/").total
        return {"host_storage_capacity": f"{_gib(total)} (root filesystem)", "host_storage_type": NOT_DETECTED}
    kinds = dict.fromkeys(_disk_kind(d) for d in disks)
    return {"host_storage_capacity": _gib(sum(int(d["size"]) for d in disks)), "host_storage_type": ", ".join(kinds)}


def _disk_kind(disk: Mapping[str, Any]) -> str:
    name, tran = str(disk.get("name", "")), str(disk.get("tran") or "")
    if "nvme" in (name + tran):
        return "NVMe SSD"
    if name.startswith(("vd", "xvd")):
        return "virtual disk"
    return "HDD" if disk.get("rota") in (True, "1", 1) else "SSD"


def network_fields(sys_class_net: Path) -> dict[str, Any]:
    """Physical network interfaces (those with a `device` link) and their link speeds."""
    nics = sorted(p for p in sys_class_net.glob("*") if (p / "device").exists()) if sys_class_net.is_dir() else []
    if not nics:
        return {"host_networking": NOT_DETECTED, "host_network_card_count": NOT_DETECTED}
    described = []
    for nic in nics:
        speed = _int(_read(nic / "speed"))
        described.append(f"{nic.name} {speed} Mb/s" if speed and speed > 0 else nic.name)
    return {"host_networking": ", ".join(described), "host_network_card_count": str(len(nics))}


def operating_system(os_release: str) -> str:
    match = re.search(r'^PRETTY_NAME="?([^"\n]*)"?', os_release, re.M)
    name = match.group(1) if match else f"{platform.system()}"
    return f"{name} (kernel {platform.release()})"


def detect_accelerators() -> list[Accelerator]:
    """NVIDIA GPUs through NVML when pynvml imports, else nvidia-smi when present, else none."""
    found = _nvml_accelerators()
    if found is not None:
        return found
    query = "name,memory.total,clocks.max.sm,pcie.link.gen.max,pcie.link.width.max"
    return parse_nvidia_smi(_run(["nvidia-smi", f"--query-gpu={query}", "--format=csv,noheader,nounits"]) or "")


def _nvml_accelerators() -> list[Accelerator] | None:
    try:
        import pynvml
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
    except Exception:   # no driver: NVMLError subclasses, which pynvml builds at run time
        return None
    try:
        found = []
        for i in range(pynvml.nvmlDeviceGetCount()):
            h = pynvml.nvmlDeviceGetHandleByIndex(i)
            name = pynvml.nvmlDeviceGetName(h)
            found.append(Accelerator(name.decode() if isinstance(name, bytes) else str(name),
                                     int(pynvml.nvmlDeviceGetMemoryInfo(h).total),
                                     _nvml_optional(lambda: pynvml.nvmlDeviceGetMaxClockInfo(h, pynvml.NVML_CLOCK_SM)),
                                     _pcie(_nvml_optional(lambda: pynvml.nvmlDeviceGetMaxPcieLinkGeneration(h)),
                                           _nvml_optional(lambda: pynvml.nvmlDeviceGetMaxPcieLinkWidth(h)))))
        return found
    finally:
        pynvml.nvmlShutdown()


def _nvml_optional(call: Any) -> int | None:
    try:
        return int(call())
    except Exception:   # NVMLError_NotSupported and friends
        return None


def _pcie(gen: int | str | None, width: int | str | None) -> str | None:
    gen, width = _int(gen), _int(width)   # type: ignore[arg-type]
    return f"PCIe Gen{gen} x{width}" if gen and width else None


def parse_nvidia_smi(text: str) -> list[Accelerator]:
    """Lines of `nvidia-smi --query-gpu=name,memory.total[,clocks.max.sm,pcie gen,pcie width] --format=csv,
    noheader,nounits` (memory in MiB); "[N/A]" or a missing column is left unknown."""
    found = []
    for line in text.strip().splitlines():
        cols = [c.strip() for c in line.split(",")] + [""] * 5
        if not cols[0]:
            continue
        mib = _int(re.sub(r"\s*MiB$", "", cols[1]))
        found.append(Accelerator(cols[0], mib * 2**20 if mib else None, _int(re.sub(r"\s*MHz$", "", cols[2])),
                                 _pcie(cols[3], cols[4])))
    return found


def accelerator_fields(accelerators: list[Accelerator]) -> dict[str, Any]:
    if not accelerators:
        return {"accelerators_per_node": "0", **{f: NOT_DETECTED for f in (
            "accelerator_model_name", "accelerator_memory_capacity", "accelerator_memory_configuration",
            "accelerator_host_interconnect", "accelerator_interconnect")}}
    names = dict.fromkeys(a.name for a in accelerators)
    memory = dict.fromkeys(_gib(a.memory_bytes) for a in accelerators if a.memory_bytes)
    clocks = dict.fromkeys(f"{a.max_clock_mhz} MHz" for a in accelerators if a.max_clock_mhz)
    links = dict.fromkeys(a.host_link for a in accelerators if a.host_link)
    kinds = dict.fromkeys(m.group(0) for n in names if (m := MEMORY_KIND.search(n)))   # "H100 80GB HBM3"
    return {"accelerators_per_node": len(accelerators), "accelerator_model_name": " + ".join(names),
            "accelerator_memory_capacity": ", ".join(memory) or NOT_DETECTED,
            "accelerator_memory_configuration": ", ".join(kinds) or NOT_DETECTED,
            "accelerator_frequency": ", ".join(clocks),
            "accelerator_host_interconnect": ", ".join(links) or NOT_DETECTED,
            "accelerator_interconnect": NOT_DETECTED}


def _version(*dists: str) -> str | None:
    for dist in dists:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return None


def software_fields() -> dict[str, Any]:
    """Inference frameworks (from package metadata: nothing heavy is imported) and the rest of the stack."""
    from podium import __version__

    frameworks = [f"{label} {v}" for label, v in (
        ("ONNX Runtime", _version("onnxruntime", "onnxruntime-gpu")), ("PyTorch", _version("torch"))) if v]
    stack = [f"Podium {__version__}", f"Python {platform.python_version()}"]
    stack += [f"{label} {v}" for label, v in (("NumPy", _version("numpy")),
                                               ("mlperf-logging", _version("mlperf-logging"))) if v]
    return {"framework": ", ".join(frameworks) or f"Podium {__version__}", "other_software_stack": ", ".join(stack)}


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
