"""Round data files: inheritance, and a ConfigError naming file and key for every malformed one."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from podium.benchmarks import load_rounds
from podium.benchmarks.catalogue import DATA_DIR
from podium.core.errors import ConfigError

BASE = """
round = "r1"
loadgen_version = "6.0.17"

[seeds]
qsl_rng_seed = "1"
sample_index_rng_seed = "2"
schedule_rng_seed = "3"

[conf]
Server = { target_latency = "10", min_duration = "600000" }

[benchmarks.net]
model = "Net"
dataset = "Data"
dataset_size = 10
performance_sample_count = 10
metric = "top1"
metric_units = "%"
scenarios = { datacenter = ["Server", "Offline"] }

[benchmarks.net.conf]
Server = { target_latency = "15" }

[benchmarks.net.variants.net-99]
targets = [{ metric = "acc", reference = 80.0, fraction = 0.99 }]

[benchmarks.old]
model = "Old"
dataset = "Data"
performance_sample_count = 5
metric = "top1"
metric_units = "%"

[benchmarks.old.variants.old]
targets = [{ metric = "acc", min = 1.0 }]
"""

CHILD = """
round = "r2"
inherit = "r1"
loadgen_version = "6.0.17"
unset = [["benchmarks", "net", "conf", "Server", "target_latency"]]

[seeds]
qsl_rng_seed = "4"
sample_index_rng_seed = "5"
schedule_rng_seed = "6"

[benchmarks.net]
audit_tests = ["TEST01"]

[benchmarks.old]
retired = "gone after r1"
"""


def write(tmp_path: Path, **files: str) -> Path:
    for name, text in files.items():
        (tmp_path / f"{name}.toml").write_text(text)
    return tmp_path


def error_of(tmp_path: Path, **files: str) -> ConfigError:
    with pytest.raises(ConfigError) as e:
        load_rounds(write(tmp_path, **files))
    return e.value


def test_inheritance_merges_unsets_and_retires(tmp_path):
    loaded = load_rounds(write(tmp_path, r1=BASE, r2=CHILD))
    r1, r2 = loaded["r1"], loaded["r2"]
    assert r1.benchmark("net").server_latency_ns == 15_000_000
    net = r2.benchmark("net")
    assert net.server_latency_ns == 10_000_000  # the model line is unset: the '*' line applies
    assert net.audit_tests == ("TEST01",) and net.model == "Net" and net.variants[0].name == "net-99"
    assert r2.seeds.qsl_rng_seed == 4 and "old" in r2.retired and [b.name for b in r2.benchmarks] == ["net"]


def test_shipped_files_load_from_a_copy(tmp_path):
    copy = tmp_path / "rounds"
    shutil.copytree(DATA_DIR, copy)
    assert list(load_rounds(copy))[-1] == "tiny-v1"


@pytest.mark.parametrize(("edit", "key", "suggestion"), [
    (("dataset_size = 10", "dataset_sise = 10"), "benchmarks.net.dataset_sise", "dataset_size"),
    (("dataset_size = 10", 'dataset_size = "10"'), "benchmarks.net.dataset_size", None),
    (('["Server", "Offline"]', '["Server", "Ofline"]'), "benchmarks.net.scenarios.datacenter", "Offline"),
    (('target_latency = "15"', "target_latency = 15"), "benchmarks.net.conf.Server.target_latency", None),
    (('[benchmarks.net.conf]\nServer', '[benchmarks.net.conf]\nServr'), "benchmarks.net.conf.Servr", "Server"),
    (('qsl_rng_seed = "1"', 'qsl_rng_seed = "-1"'), "seeds.qsl_rng_seed", None),
    (('metric = "acc", reference', 'metrc = "acc", reference'), "benchmarks.net.variants.net-99.targets[0].metrc",
     "metric"),
    (('model = "Net"\n', ''), "benchmarks.net.model", None),
])
def test_malformed_file_names_file_and_key(tmp_path, edit, key, suggestion):
    old, new = edit
    assert old in BASE
    e = error_of(tmp_path, r1=BASE.replace(old, new, 1))
    assert e.path.endswith("r1.toml") and e.key == key and e.suggestion == suggestion


def test_not_toml(tmp_path):
    e = error_of(tmp_path, r1=BASE + "\n[[[")
    assert e.path.endswith("r1.toml") and "not valid TOML" in str(e)


def test_bad_inheritance(tmp_path):
    e = error_of(tmp_path, r1=BASE, r2=CHILD.replace('inherit = "r1"', 'inherit = "r0"'))
    assert e.key == "inherit" and e.suggestion == "r1"
    e = error_of(tmp_path, r1=BASE, r2=CHILD.replace('"target_latency"]]', '"target_latenc"]]'))
    assert e.key == "unset" and e.path.endswith("r2.toml")
