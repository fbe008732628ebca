"""System descriptions: capture on this machine is complete and valid; parsers of each probe; validation rules."""

from __future__ import annotations

import json

import pytest

from podium.cli import main
from podium.results import system as sysdesc
from podium.core import host as system_probe
from podium.results.checker import Severity

LSCPU = json.dumps({"lscpu": [
    {"field": "Architecture:", "data": "x86_64", "children": [
        {"field": "Model name:", "data": "Intel(R) Xeon(R) Platinum 8480+", "children": [
            {"field": "Socket(s):", "data": "2"}, {"field": "Core(s) per socket:", "data": "56"},
            {"field": "CPU max MHz:", "data": "3800.0000"}]}]},
    {"field": "Caches (sum of all):", "data": None, "children": [
        {"field": "L1d cache:", "data": "5.3 MiB (112 instances)"},
        {"field": "L3 cache:", "data": "210 MiB (2 instances)"}]},
]})


def test_capture_on_this_machine_has_every_field_and_validates():
    desc = sysdesc.capture("here")
    assert set(sysdesc.INFERENCE_FIELDS) <= set(desc) and set(sysdesc.TRAINING_FIELDS) <= set(desc)
    assert desc["system_name"] == "here" and desc["host_processor_model_name"]
    findings = sysdesc.validate(desc, "v6.1")
    assert all(f.severity is Severity.INFO for f in findings), findings
    assert all(f.severity is Severity.INFO for f in sysdesc.validate(desc, "v6.1", sysdesc.Usage.TRAINING)
               if "status" not in f.message)


def test_capture_overrides_win(tmp_path):
    desc = sysdesc.capture("x", submitter="ACME", **{"accelerator_on-chip_memories": "50 MB L2"})
    assert desc["submitter"] == "ACME" and desc["accelerator_on-chip_memories"] == "50 MB L2"
    path = sysdesc.write(tmp_path / "systems" / "x.json", desc)
    assert sysdesc.load(path) == desc
    assert not list(path.parent.glob(".*"))   # the temporary file was renamed, not left behind


def test_lscpu_nested_output_and_cpu_fields(tmp_path):
    fields = system_probe.lscpu_fields(LSCPU)
    assert fields["Socket(s)"] == "2" and fields["L3 cache"] == "210 MiB (2 instances)"
    cpu = system_probe.cpu_fields(fields, "", sysfs=tmp_path)
    assert cpu["host_processor_model_name"] == "Intel(R) Xeon(R) Platinum 8480+"
    assert cpu["host_processors_per_node"] == 2 and cpu["host_processor_core_count"] == 56
    assert cpu["host_processor_frequency"] == "3800 MHz"
    assert cpu["host_processor_caches"] == "L1d: 5.3 MiB (112 instances), L3: 210 MiB (2 instances)"


def test_cpu_fields_from_proc_cpuinfo_and_sysfs(tmp_path):
    cpuinfo = "model name\t: Example CPU\nphysical id\t: 0\ncpu cores\t: 4\ncpu MHz\t\t: 2400.000\n"
    for name, level, kind, size in (("index0", "1", "Data", "32K"), ("index1", "2", "Unified", "1024K")):
        (tmp_path / "cache" / name).mkdir(parents=True)
        for key, value in (("level", level), ("type", kind), ("size", size)):
            (tmp_path / "cache" / name / key).write_text(value + "\n")
    cpu = system_probe.cpu_fields({}, cpuinfo, sysfs=tmp_path)
    assert cpu["host_processor_model_name"] == "Example CPU" and cpu["host_processor_core_count"] == 4
    assert cpu["host_processor_frequency"] == "2400 MHz"
    assert cpu["host_processor_caches"].startswith("L1d: 32K")


def test_memory_storage_network_and_os(tmp_path):
    assert system_probe.memory_fields("MemTotal:       263856128 kB\n")["host_memory_capacity"] == "252 GiB"
    lsblk = json.dumps({"blockdevices": [
        {"name": "nvme0n1", "size": 2 * 10**12, "rota": False, "type": "disk", "tran": "nvme"},
        {"name": "sda", "size": 4 * 10**12, "rota": True, "type": "disk", "tran": "sata"},
        {"name": "zram0", "size": 10**9, "rota": False, "type": "disk", "tran": None}]})
    storage = system_probe.storage_fields(lsblk)
    assert storage == {"host_storage_capacity": "5588 GiB", "host_storage_type": "NVMe SSD, HDD"}
    (tmp_path / "eth0" / "device").mkdir(parents=True)
    (tmp_path / "eth0" / "speed").write_text("25000\n")
    (tmp_path / "lo").mkdir()
    assert system_probe.network_fields(tmp_path) == {"host_networking": "eth0 25000 Mb/s",
                                                     "host_network_card_count": "1"}
    assert system_probe.operating_system('PRETTY_NAME="Ubuntu 24.04 LTS"\n').startswith("Ubuntu 24.04 LTS (kernel ")


def test_accelerators_from_nvidia_smi():
    text = "NVIDIA H100 80GB HBM3, 81559, 1980, 5, 16\nNVIDIA H100 80GB HBM3, 81559, [N/A], [N/A], [N/A]\n"
    found = system_probe.parse_nvidia_smi(text)
    assert len(found) == 2 and found[0].memory_bytes == 81559 * 2**20 and found[1].max_clock_mhz is None
    fields = system_probe.accelerator_fields(found)
    assert fields["accelerators_per_node"] == 2 and fields["accelerator_model_name"] == "NVIDIA H100 80GB HBM3"
    assert fields["accelerator_memory_capacity"] == "80 GiB" and fields["accelerator_memory_configuration"] == "HBM3"
    assert fields["accelerator_host_interconnect"] == "PCIe Gen5 x16"
    assert system_probe.parse_nvidia_smi("NVIDIA A100-SXM4-40GB, 40960\n")[0].max_clock_mhz is None


def test_no_accelerator_is_the_string_zero_and_validates():
    fields = system_probe.accelerator_fields([])
    assert fields["accelerators_per_node"] == "0" and fields["accelerator_model_name"] == "N/A"
    desc = sysdesc.capture("x", **fields)
    assert not [f for f in sysdesc.validate(desc) if "accelerator" in f.message]


@pytest.mark.parametrize("change, text", [
    ({"drop": "host_storage_type"}, "'host_storage_type' is missing"),
    ({"status": "released"}, "'status' is 'released'"),
    ({"system_type": "cloud"}, "'system_type' is 'cloud'"),
    ({"framework": " "}, "'framework' needs a meaningful answer"),
    ({"host_processors_per_node": 0}, 'write "0"'),
])
def test_validation_names_the_field(change, text):
    desc = sysdesc.capture("x")
    desc.pop(change.pop("drop", None), None)
    desc.update(change)
    messages = [f.message for f in sysdesc.validate(desc, "v6.1") if f.severity is Severity.ERROR]
    assert any(text in m for m in messages), messages


def test_field_lists_per_round_and_usage():
    assert len(sysdesc.required_fields("v6.1")) == 35
    assert len(sysdesc.required_fields("v1.0")) == 16
    assert len(sysdesc.required_fields("v6.1", sysdesc.Usage.TRAINING)) == 33
    old = {k: "x" for k in sysdesc.required_fields("v1.0")} | {"status": "available"}
    assert sysdesc.validate(old, "v1.0") == []
    train = {k: "" for k in sysdesc.TRAINING_FIELDS} | {"status": "Available cloud"}
    assert sysdesc.validate(train, "v6.1", sysdesc.Usage.TRAINING) == []


def test_a_typo_in_a_field_name_is_a_warning():
    desc = sysdesc.capture("x") | {"host_processor_modle_name": "oops"}
    found = [f for f in sysdesc.validate(desc) if f.severity is Severity.WARNING]
    assert found and "did you mean 'host_processor_model_name'" in found[0].message


def test_cli_writes_and_validates(tmp_path, capsys):
    assert main(["system", "--id", "box", "--out", str(tmp_path), "--set", "submitter=ACME",
                 "--set", "number_of_nodes=2"]) == 0
    path = tmp_path / "systems" / "box.json"
    desc = json.loads(path.read_text())
    assert desc["submitter"] == "ACME" and desc["number_of_nodes"] == 2
    assert main(["system", "validate", str(path)]) == 0
    desc["status"] = "soon"
    path.write_text(json.dumps(desc))
    capsys.readouterr()
    assert main(["system", "validate", str(path), "--json"]) == 2
    assert json.loads(capsys.readouterr().out)[-1]["message"].startswith("field 'status'")


def test_the_system_type_is_the_one_the_results_make_whole() -> None:
    """ResNet-50 in v4.1 is a benchmark of both categories: SingleStream, MultiStream and Offline make an edge
    system even when the description says datacenter (its default); Server and Offline keep datacenter; results
    whole in neither keep the description's type."""
    from podium.benchmarks import get_round

    bench = get_round("v4.1").benchmark("resnet50")
    assert sysdesc.choose_system_type("datacenter", {bench: {"SingleStream", "MultiStream", "Offline"}}) == "edge"
    assert sysdesc.choose_system_type("datacenter", {bench: {"Server", "Offline"}}) == "datacenter"
    assert sysdesc.choose_system_type("datacenter", {bench: {"Offline"}}) == "datacenter"
    assert sysdesc.choose_system_type("edge", {bench: {"Server", "Offline"}}) == "datacenter"
