"""`podium list benchmarks`: every inference benchmark Podium serves, the rounds that carry it, and what its --model
and --dataset-path take."""

from __future__ import annotations

from podium.cli import main
from podium.inference.tasks import TASKS


def _blocks(text: str) -> dict[str, list[str]]:
    """The needs section: benchmark name -> its indented lines."""
    blocks: dict[str, list[str]] = {}
    current = None
    for line in text.split("\n\n", 1)[1].splitlines():
        if line.startswith("  "):
            blocks[current].append(line.strip())
        elif line.endswith(":"):
            current = line[:-1]
            blocks[current] = []
    return blocks


def test_every_served_benchmark_is_listed_with_what_it_needs(capsys) -> None:
    assert main(["list", "benchmarks"]) == 0
    out = capsys.readouterr().out
    table = out.split("\n\n", 1)[0].splitlines()
    assert table[0].split()[:2] == ["benchmark", "rounds"]
    listed = {row.split()[0] for row in table[1:]}
    assert {"resnet50", "3d-unet", "retinanet", "digits"} <= listed
    assert listed <= set(TASKS.names())
    blocks = _blocks(out)
    assert set(blocks) == listed
    resnet = blocks["resnet50"]
    assert resnet[0].startswith("--model ONNX graph: mlperf-onnx-argmax [ArgMax:0]")
    assert "PyTorch state dict of 'resnet50'" in resnet[0] and "random" in resnet[0]
    assert resnet[1] == ("--dataset-path imagenet: expected <dataset-path>/val_map.txt with lines '<image file> "
                         "<label>' and the image files beside it")
    assert blocks["digits"][1] == "--dataset-path digits: none (shipped with Podium)"
    row = next(r for r in table if r.startswith("resnet50 "))
    assert "v0.5..v6.1 (14)" in row and "top1 >= 75.695%" in row


def test_list_without_an_argument_shows_both(capsys) -> None:
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("workload ") and "\nbenchmark " in out
