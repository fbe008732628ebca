"""What this machine reveals about itself, in MLPerf's system description fields: CPU, memory, storage, network,
OS, accelerators, software.

Best effort, never raises: lscpu, /proc, /sys, lsblk, NVML (pynvml) or nvidia-smi, package metadata. What cannot be
detected is "N/A" (`NOT_DETECTED`), as the official samples write it. `podium.results.system` assembles a whole
inference description from these facts (`capture`) and validates it; `podium.training.submission_layout` fills a
training one from them.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
import importlib
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = ["NOT_DETECTED", "Accelerator", "accelerator_fields", "cpu_fields", "detect_accelerators",
           "lscpu_fields", "memory_fields", "network_fields", "operating_system", "parse_nvidia_smi",
           "installed_version", "probe_host", "software_fields", "storage_fields"]

NOT_DETECTED = "N/A"
MEMORY_KIND = re.compile(r"\b(HBM\d?e?|GDDR\d+X?|LPDDR\d+X?)\b", re.I)
PROBE_TIMEOUT_S = 5


@dataclass(frozen=True)
class Accelerator:
    """One accelerator as NVML or nvidia-smi reports it."""

    name: str
    memory_bytes: int | None = None
    max_clock_mhz: int | None = None
    host_link: str | None = None     # e.g. "PCIe Gen5 x16"


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
    try:   # nvidia-ml-py, when installed (an optional dependency without type hints)
        pynvml: Any = importlib.import_module("pynvml")
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


def installed_version(*dists: str) -> str | None:
    """The version of the first of `dists` that is installed (package metadata: nothing is imported)."""
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
        ("ONNX Runtime", installed_version("onnxruntime", "onnxruntime-gpu")),
        ("PyTorch", installed_version("torch"))) if v]
    stack = [f"Podium {__version__}", f"Python {platform.python_version()}"]
    stack += [f"{label} {v}" for label, v in (("NumPy", installed_version("numpy")),
                                               ("mlperf-logging", installed_version("mlperf-logging"))) if v]
    return {"framework": ", ".join(frameworks) or f"Podium {__version__}", "other_software_stack": ", ".join(stack)}
