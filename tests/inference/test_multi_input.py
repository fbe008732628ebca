"""Models taking several inputs (BERT's ids, mask and segments; DLRM's dense and sparse features): samples are
numpy structured records with a field per input, fed by name on both backends, through shared memory and the
ONNX export of a definition that declares its inputs."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")

from podium.core.errors import SUTError  # noqa: E402
from podium.inference.backends import BACKENDS  # noqa: E402
from podium.models.base import Input, Model  # noqa: E402
from podium.models.export import export_onnx  # noqa: E402

SEQ = 6


class TwoInputs(torch.nn.Module):
    """Embeds ids, masks them and answers two outputs: per-token scores and the masked sum."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = torch.nn.Embedding(10, 3)

    def forward(self, ids, mask):
        scores = self.embed(ids).sum(-1) * mask.to(torch.float32)
        return scores, scores.sum(-1, keepdim=True)


def build() -> TwoInputs:
    torch.manual_seed(0)
    return TwoInputs()


DEFINITION = Model("two-inputs", build, (SEQ,), inputs=(Input("ids", (SEQ,), "int64"), Input("mask", (SEQ,), "int32")),
                   output_names=("scores", "total"))


def _records(n: int) -> np.ndarray:
    rng = np.random.default_rng(1)
    batch = np.zeros(n, dtype=DEFINITION.sample_dtype())
    batch["ids"] = rng.integers(0, 10, (n, SEQ))
    batch["mask"] = rng.integers(0, 2, (n, SEQ))
    return batch


def _expected(batch: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return build()(torch.from_numpy(batch["ids"].copy()), torch.from_numpy(batch["mask"].copy()))[0].numpy()


def test_definition_declares_a_record_per_sample() -> None:
    dtype = DEFINITION.sample_dtype()
    assert dtype.names == ("ids", "mask")
    assert dtype["ids"].shape == (SEQ,) and dtype["ids"].base == np.int64
    assert DEFINITION.input_names == ("ids", "mask")
    assert Model("one", build, (3,)).sample_dtype() == np.float32


def test_pytorch_backend_feeds_fields_by_name(tmp_path) -> None:
    path = tmp_path / "two.pt"
    torch.save(build().state_dict(), path)
    batch = _records(4)
    model = BACKENDS.get("pytorch").load(path, model_factory=build, example_input=batch[:1],
                                         io_names=(DEFINITION.input_names, DEFINITION.output_names))
    assert [i.name for i in model.inputs] == ["ids", "mask"]
    assert model.describe_io()["inputs"][1] == {"name": "mask", "dtype": "int32", "shape": [None, SEQ]}
    np.testing.assert_allclose(model.predict(batch), _expected(batch), rtol=1e-6)
    model.select(("total",))
    assert model.run_feeds({"mask": batch["mask"], "ids": batch["ids"]})[0].shape == (4, 1)


def test_onnx_export_and_runtime_take_the_declared_inputs(tmp_path) -> None:
    path = export_onnx(build().eval(), DEFINITION, tmp_path / "two.onnx")
    model = BACKENDS.get("onnxruntime").load(path)
    assert [(i.name, i.dtype.name) for i in model.inputs] == [("ids", "int64"), ("mask", "int32")]
    batch = _records(5)
    np.testing.assert_allclose(model.predict(batch), _expected(batch), rtol=1e-5)
    with pytest.raises(SUTError, match="takes 2 inputs"):
        model.run(np.zeros((2, SEQ), dtype=np.int64))
    with pytest.raises(SUTError, match="input 'mask' is not among the arrays fed"):
        model.run_feeds({"ids": batch["ids"]})


def test_records_cross_shared_memory_with_their_fields() -> None:
    from multiprocessing.shared_memory import SharedMemory

    batch = _records(3)
    shm = SharedMemory(create=True, size=batch.nbytes)
    try:
        view = np.ndarray(batch.shape, dtype=batch.dtype, buffer=shm.buf)
        view[...] = batch
        assert view.dtype.names == ("ids", "mask")
        np.testing.assert_array_equal(view["ids"], batch["ids"])
        del view
    finally:
        shm.close()
        shm.unlink()


def build_sized(state_dict=None) -> TwoInputs:
    """A build sized by a state dict: the embedding's rows and width read off its shape."""
    module = TwoInputs()
    if state_dict is not None:
        rows, width = state_dict["embed.weight"].shape
        module.embed = torch.nn.Embedding(rows, width)
    return module


def test_a_build_taking_state_dict_is_sized_by_the_file(tmp_path) -> None:
    from podium.inference.backends.pytorch import sized_by_state_dict

    assert sized_by_state_dict(build_sized) and not sized_by_state_dict(build)
    small = TwoInputs()
    small.embed = torch.nn.Embedding(10, 2)  # another width than the default build's 3
    path = tmp_path / "small.pt"
    torch.save(small.state_dict(), path)
    batch = _records(2)
    model = BACKENDS.get("pytorch").load(path, model_factory=build_sized, example_input=batch[:1],
                                         io_names=(DEFINITION.input_names, DEFINITION.output_names))
    assert model.module.embed.weight.shape == (10, 2)
    with pytest.raises(Exception, match="shape mismatches"):
        BACKENDS.get("pytorch").load(path, model_factory=build, example_input=batch[:1],
                                     io_names=(DEFINITION.input_names, DEFINITION.output_names))
