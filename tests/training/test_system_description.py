"""The training system description is filled from what the host reveals, as the inference one is (the same
probe, `podium.core.host`), with the nodes, ranks and accelerators the campaign ran on."""

from __future__ import annotations

from podium.core.host import probe_host
from podium.training.submission_layout import SYSTEM_FIELDS, system_description
from podium.workloads.base import Division


def test_the_description_says_what_the_host_is() -> None:
    desc = system_description("ACME", "cpu-box", Division.CLOSED, nodes=2, ranks_per_node=4)
    facts = probe_host()
    assert list(desc) == list(SYSTEM_FIELDS)
    assert all(isinstance(v, str) for v in desc.values())   # the checker wants strings
    for name in ("host_processor_model_name", "host_processor_core_count", "host_memory_capacity",
                 "operating_system"):
        assert desc[name] == str(facts[name]) and desc[name] not in ("", "x86_64"), name
    assert desc["framework"].startswith("PyTorch ")
    assert (desc["number_of_nodes"], desc["accelerators_per_node"]) == ("2", "0")
    assert "4 training process(es) per node" in desc["sw_notes"]


def test_ranks_on_accelerators_are_counted_per_node() -> None:
    desc = system_description("ACME", "gpu-box", Division.CLOSED, nodes=1, ranks_per_node=8,
                              accelerator="NVIDIA H100 80GB HBM3")
    assert (desc["accelerators_per_node"], desc["accelerator_model_name"]) == ("8", "NVIDIA H100 80GB HBM3")
