"""Schedule footprints: the memory a pass of the engine will hold, and whether this process has it.

`ScheduleSize` counts a pass before it is generated (`settings.pass_size` sizes each pass of a run from
its derived settings); `check_fits` refuses one bigger than 3/4 of `available_memory_bytes()` with a
one-line `ConfigError` naming the settings that shrink it, where the official LoadGen 6.0.17 dies of
std::bad_alloc. Standard library only: `settings.derive()` checks the fit, and `podium --help` imports
`settings` without numpy.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from podium.core.errors import ConfigError

__all__ = [
    "QUERY_BYTES",
    "SAMPLE_BYTES",
    "ScheduleSize",
    "TOKEN_BYTES",
    "available_memory_bytes",
    "check_fits",
]

QUERY_BYTES = 16  # scheduled and issue times
SAMPLE_BYTES = 56  # QSL index, completion time, latency, the summary's copies (a null-SUT run peaks at ~70)
TOKEN_BYTES = 16  # first-token time and token count


@dataclass(frozen=True)
class ScheduleSize:
    """How many queries and samples one pass generates, and what shrinks it."""

    queries: int
    samples: int
    sample_bytes: int  # per sample, with the token arrays when token latencies are on
    what: str  # e.g. "Server PerformanceOnly schedule"
    fix: str  # the settings to change when it is too big
    key: str  # the setting a ConfigError names

    @property
    def bytes(self) -> int:
        """The engine's flat arrays for the pass: per query, per sample."""
        return QUERY_BYTES * self.queries + self.sample_bytes * self.samples


def check_fits(size: ScheduleSize, memory_limit_bytes: int | None = None) -> None:
    """Refuse a pass bigger than `memory_limit_bytes` (default: 3/4 of `available_memory_bytes()`) with a
    ConfigError giving its size and the settings that shrink it, before anything is allocated."""
    limit = memory_limit_bytes
    if limit is None:
        available = available_memory_bytes()
        limit = None if available is None else available * 3 // 4
    if limit is None or size.bytes <= limit:
        return
    held = _n(size.samples, "sample")
    if size.queries:
        held = f"{_n(size.queries, 'query')} and {held}"
    raise ConfigError(f"the {size.what} would hold {held}, about {_human(size.bytes)} at {QUERY_BYTES} B per "
                      f"query and {size.sample_bytes} B per sample: more than the {_human(limit)} allowed (3/4 "
                      f"of the memory available); {size.fix}", key=size.key)


def available_memory_bytes() -> int | None:
    """Memory this process can still take (Linux: MemAvailable, within the cgroup's limit and RLIMIT_AS;
    elsewhere free physical pages); None when the system does not say."""
    known = [x for x in (_meminfo_available(), _cgroup_room(), _rlimit_room()) if x is not None]
    if known:
        return min(known)
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def _read_small(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read(8192)
    except OSError:
        return None


def _meminfo_available() -> int | None:
    for line in (_read_small("/proc/meminfo") or "").splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    return None


def _cgroup_room() -> int | None:
    limit, used = _read_small("/sys/fs/cgroup/memory.max"), _read_small("/sys/fs/cgroup/memory.current")
    if limit is None or used is None or limit.strip() == "max":
        return None
    return max(int(limit) - int(used), 0)


def _rlimit_room() -> int | None:
    try:
        import resource
    except ImportError:  # not on Windows
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    statm = _read_small("/proc/self/statm")
    if soft == resource.RLIM_INFINITY or statm is None:
        return None
    return max(soft - int(statm.split()[0]) * os.sysconf("SC_PAGE_SIZE"), 0)


def _n(count: int, noun: str) -> str:
    return f"{count:,} {noun}" if count == 1 else f"{count:,} {noun[:-1] + 'ies' if noun.endswith('y') else noun + 's'}"


def _human(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if n < 1000:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:,.1f} PB"


