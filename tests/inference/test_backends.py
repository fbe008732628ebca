"""Tests of podium.inference.backends: ONNX Runtime and PyTorch agree with eager torch; faults fail at load.

Models are tiny and built here (a conv net in nn.Sequential), saved as a state dict, a TorchScript archive and
an ONNX file in a temporary folder. Tolerances: fp32 paths agree with eager torch to 1e-4 (different kernels,
same arithmetic); bf16 to 5e-2 of the logits' scale (8 mantissa bits). The digits tests use the real model
(`small_resnet`, untrained) and the real exporter (`export_onnx`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import podium.inference.backends as backends_pkg
from podium.core.errors import ConfigError, SUTError, UnknownNameError
from podium.inference.backends import BACKENDS, WARMUP_ROUNDS, Backend, BackendOptions, LoadedModel

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")
nn = torch.nn

ATOL_FP32 = 1e-4
BATCHES = (1, 7, 64)
# torch.compile takes about 10 s for the tiny model on a shared 2-core machine: opt in with PODIUM_SLOW_TESTS=1.
SLOW = pytest.mark.skipif(not os.environ.get("PODIUM_SLOW_TESTS"), reason="set PODIUM_SLOW_TESTS=1 (torch.compile)")


def tiny_net() -> nn.Module:
    """A conv net on (N, 1, 8, 8) inputs with batch norm, so eval mode matters; fixed weights."""
    torch.manual_seed(3)
    net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                        nn.Flatten(), nn.Linear(4 * 8 * 8, 10))
    with torch.no_grad():   # non-trivial running statistics
        net[1].running_mean.uniform_(-0.5, 0.5)
        net[1].running_var.uniform_(0.5, 2.0)
    return net.eval()


def inputs(batch: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((batch, 1, 8, 8), dtype=np.float32)


def eager(net: nn.Module, x: np.ndarray) -> np.ndarray:
    with torch.inference_mode():
        return net(torch.from_numpy(x)).numpy()


def export_legacy(net: nn.Module, path: Path, dynamic: bool = True) -> Path:
    """The TorchScript ONNX exporter: well under a second, where the dynamo exporter takes several."""
    axes = {"input": {0: "batch"}, "logits": {0: "batch"}} if dynamic else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (torch.zeros(1, 1, 8, 8),), str(path), dynamo=False, input_names=["input"],
                          output_names=["logits"], dynamic_axes=axes)
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("models")
    net = tiny_net()
    torch.save(net.state_dict(), out / "model.pt")
    with warnings.catch_warnings():   # torch deprecates TorchScript; the backend still reads archives
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.trace(net, torch.zeros(1, 1, 8, 8)).save(str(out / "model.ts"))
    return {"state": out / "model.pt", "script": out / "model.ts", "onnx": export_legacy(net, out / "model.onnx"),
            "onnx_fixed": export_legacy(net, out / "fixed.onnx", dynamic=False), "dir": out}


@pytest.fixture
def torch_threads():
    """PyTorch thread counts are process-wide: put them back after a test that sets them."""
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def load(name: str, path: Path, opts: BackendOptions | None = None, **kwargs) -> LoadedModel:
    return BACKENDS.get(name).load(path, opts or BackendOptions(), **kwargs)


# -- registry and package

def test_registry_lists_both_backends_and_each_reports_its_runtime():
    assert {"onnxruntime", "pytorch"} <= set(BACKENDS.names())
    for name in ("onnxruntime", "pytorch"):
        backend = BACKENDS.get(name)
        assert isinstance(backend, Backend) and backend.name == name
        assert backend.available() and backend.version()


@pytest.mark.parametrize(("typo", "meant"), [("onnxruntim", "onnxruntime"), ("pytroch", "pytorch")])
def test_unknown_backend_suggests_the_nearest(typo, meant):
    with pytest.raises(UnknownNameError) as err:
        BACKENDS.get(typo)
    assert err.value.suggestion == meant and meant in str(err.value)


def test_public_api_is_sorted_and_importable():
    assert backends_pkg.__all__ == sorted(backends_pkg.__all__)
    assert all(hasattr(backends_pkg, name) for name in backends_pkg.__all__)


def test_registering_backends_imports_no_runtime():
    code = ("import sys; from podium.inference.backends import BACKENDS; BACKENDS.names(); "
            "BACKENDS.get('onnxruntime').available(); BACKENDS.get('pytorch').available(); "
            "print(sorted(m for m in ('torch', 'onnxruntime') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# -- options

@pytest.mark.parametrize(("kwargs", "suggestion"), [({"graph_optimization": "extendd"}, "extended"),
                                                    ({"precision": "bf61"}, "bf16"),
                                                    ({"intra_op_threads": 0}, None),
                                                    ({"inter_op_threads": -2}, None)])
def test_bad_options_are_config_errors(kwargs, suggestion):
    with pytest.raises(ConfigError) as err:
        BackendOptions(**kwargs)
    assert err.value.suggestion == suggestion and next(iter(kwargs)) in str(err.value)


def test_options_normalize_to_enums_and_serialize():
    opts = BackendOptions(graph_optimization="basic", precision="bf16", providers=["cpu"])
    assert opts.graph_optimization == "basic" and opts.providers == ("cpu",)
    assert json.loads(json.dumps(opts.to_dict()))["precision"] == "bf16"


@pytest.mark.parametrize(("backend", "kwargs"), [("onnxruntime", {"compile": True}),
                                                 ("onnxruntime", {"channels_last": True}),
                                                 ("onnxruntime", {"precision": "bf16"}),
                                                 ("pytorch", {"providers": ("CPUExecutionProvider",)}),
                                                 ("pytorch", {"graph_optimization": "basic"})])
def test_an_option_of_the_other_backend_is_refused(files, backend, kwargs):
    path = files["onnx"] if backend == "onnxruntime" else files["state"]
    with pytest.raises(ConfigError, match=next(iter(kwargs))):
        load(backend, path, BackendOptions(**kwargs), model_factory=tiny_net)


# -- agreement with eager torch, dynamic batch sizes

@pytest.mark.parametrize("batch", BATCHES)
def test_onnxruntime_matches_eager_torch(files, batch):
    x = inputs(batch)
    with load("onnxruntime", files["onnx"]) as model:
        out = model.predict(x)
    assert out.shape == (batch, 10) and out.dtype == np.float32
    np.testing.assert_allclose(out, eager(tiny_net(), x), atol=ATOL_FP32)


@pytest.mark.parametrize("batch", BATCHES)
def test_pytorch_state_dict_matches_eager_torch(files, batch):
    x = inputs(batch)
    out = load("pytorch", files["state"], model_factory=tiny_net).predict(x)
    assert out.shape == (batch, 10) and out.dtype == np.float32
    np.testing.assert_allclose(out, eager(tiny_net(), x), atol=ATOL_FP32)


def test_pytorch_torchscript_matches_eager_torch(files):
    x = inputs(7)
    model = load("pytorch", files["script"])
    assert model.describe()["model"]["format"] == "torchscript"
    np.testing.assert_allclose(model.predict(x), eager(tiny_net(), x), atol=ATOL_FP32)


def test_input_is_cast_to_the_model_dtype(files):
    x = inputs(3)
    for model in (load("onnxruntime", files["onnx"]), load("pytorch", files["state"], model_factory=tiny_net)):
        np.testing.assert_allclose(model.predict(x.astype(np.float64)), eager(tiny_net(), x), atol=ATOL_FP32)


def test_fixed_batch_model_reports_it_and_refuses_other_sizes(files):
    model = load("onnxruntime", files["onnx_fixed"])
    assert model.batch_size == 1 and model.describe()["batch_size"] == 1
    assert model.predict(inputs(1)).shape == (1, 10)
    with pytest.raises(SUTError, match="fixed batch size of 1"):
        model.predict(inputs(7))


# -- options in effect

def test_onnxruntime_describe_shows_options_providers_and_io(files):
    opts = BackendOptions(intra_op_threads=1, inter_op_threads=2, graph_optimization="basic", providers=("cpu",))
    info = load("onnxruntime", files["onnx"], opts).describe()
    assert json.loads(json.dumps(info)) == info
    assert info["name"] == "onnxruntime" and info["version"] == BACKENDS.get("onnxruntime").version()
    assert {"intra_op_threads": 1, "inter_op_threads": 2, "graph_optimization": "basic"}.items() <= \
        info["options"].items()
    assert info["providers"] == ["CPUExecutionProvider"]
    assert info["input"] == {"name": "input", "dtype": "float32", "shape": [None, 1, 8, 8]}
    assert info["outputs"] == ["logits"] and info["batch_size"] is None
    assert any("sequential" in note for note in info["notes"])


def test_pytorch_describe_shows_threads_in_effect(files, torch_threads):
    opts = BackendOptions(intra_op_threads=1)
    info = load("pytorch", files["state"], opts, model_factory=tiny_net, example_input=inputs(2)).describe()
    assert json.loads(json.dumps(info)) == info
    assert info["options"]["intra_op_threads"] == 1 == torch.get_num_threads()
    assert info["input"] == {"name": "input", "dtype": "float32", "shape": [None, 1, 8, 8]}


def test_pytorch_interop_threads_set_once_then_noted(files):
    current = torch.get_num_interop_threads()
    infos = [load("pytorch", files["state"], BackendOptions(inter_op_threads=n), model_factory=tiny_net).describe()
             for n in (current + 1, current + 2)]
    # PyTorch allows one change per process (and none after inter-op work): the second request cannot apply.
    last = infos[-1]
    assert last["options"]["inter_op_threads"] == torch.get_num_interop_threads() != current + 2
    assert any("inter_op_threads=" in note for note in last["notes"])


# -- PyTorch variants

def test_bf16_is_close_to_fp32(files):
    x = inputs(16)
    want = eager(tiny_net(), x)
    out = load("pytorch", files["state"], BackendOptions(precision="bf16"), model_factory=tiny_net).predict(x)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, want, atol=5e-2 * np.abs(want).max())


def test_fp16_on_the_cpu_is_refused(files):
    with pytest.raises(ConfigError, match="fp16"):
        load("pytorch", files["state"], BackendOptions(precision="fp16"), model_factory=tiny_net)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_a_gpu_is_refused(files):
    with pytest.raises(ConfigError, match="CUDA"):
        load("pytorch", files["state"], BackendOptions(device="cuda"), model_factory=tiny_net)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize(("precision", "channels_last", "rtol"), [("fp32", False, 1e-3), ("fp32", True, 1e-3),
                                                                  ("bf16", True, 5e-2), ("fp16", False, 5e-3)])
def test_cuda_matches_eager_cpu(files, precision, channels_last, rtol):
    # rtol is relative to the logits' scale; fp32 on the GPU may use TF32 convolutions.
    x = inputs(33)
    want = eager(tiny_net(), x)
    opts = BackendOptions(device="cuda", precision=precision, channels_last=channels_last)
    model = load("pytorch", files["state"], opts, model_factory=tiny_net, example_input=x[:4])
    assert model.describe()["providers"] == ["cuda"]
    np.testing.assert_allclose(model.predict(x), want, atol=rtol * np.abs(want).max())


def test_onnxruntime_cuda_provider_when_present(files):
    import onnxruntime

    opts = BackendOptions(device="cuda")
    if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
        with pytest.raises(ConfigError, match="CUDAExecutionProvider"):
            load("onnxruntime", files["onnx"], opts)
        return
    x = inputs(7)
    model = load("onnxruntime", files["onnx"], opts)
    assert model.describe()["providers"][0] == "CUDAExecutionProvider"
    np.testing.assert_allclose(model.predict(x), eager(tiny_net(), x), atol=1e-3)


def test_channels_last_gives_the_same_result(files):
    x = inputs(7)
    out = load("pytorch", files["state"], BackendOptions(channels_last=True), model_factory=tiny_net).predict(x)
    np.testing.assert_allclose(out, eager(tiny_net(), x), atol=ATOL_FP32)


def test_compile_needs_a_factory_and_an_example(files):
    no_example, no_factory = {"model_factory": tiny_net}, {"example_input": inputs(1)}
    for path, kwargs in ((files["state"], no_example), (files["script"], no_factory)):
        with pytest.raises(ConfigError, match="compile"):
            load("pytorch", path, BackendOptions(compile=True), **kwargs)


@SLOW
def test_compile_runs_every_batch_size_without_recompiling(files, monkeypatch):
    opts = BackendOptions(compile=True)
    model = load("pytorch", files["state"], opts, model_factory=tiny_net, example_input=inputs(8))
    monkeypatch.setattr(torch._dynamo.config, "error_on_recompile", True)
    for batch in (1, 7, 8, 20):   # padded up to 8, or split into 8s
        x = inputs(batch, seed=batch)
        np.testing.assert_allclose(model.predict(x), eager(tiny_net(), x), atol=ATOL_FP32)
    assert model.describe()["options"]["static_batch"] == 8


def test_warm_up_runs_untimed_predictions_at_load(files):
    calls = []

    def counted() -> nn.Module:
        net = tiny_net()
        net.register_forward_hook(lambda *_: calls.append(1))
        return net

    load("pytorch", files["state"], model_factory=counted, example_input=inputs(2))
    assert len(calls) == WARMUP_ROUNDS


# -- faults: clear errors at load, naming the path

@pytest.mark.parametrize("backend", ["onnxruntime", "pytorch"])
def test_missing_model_file(tmp_path, backend):
    path = tmp_path / "absent.bin"
    with pytest.raises(ConfigError, match="not found") as err:
        load(backend, path, model_factory=tiny_net)
    assert str(path) in str(err.value)


@pytest.mark.parametrize(("backend", "factory"), [("onnxruntime", None), ("pytorch", tiny_net), ("pytorch", None)])
def test_corrupt_model_file(tmp_path, backend, factory):
    path = tmp_path / "model.bin"
    path.write_bytes(np.random.default_rng(1).bytes(4096))
    with pytest.raises(ConfigError) as err:
        load(backend, path, model_factory=factory)
    assert str(path) in str(err.value)


def test_truncated_state_dict(files, tmp_path):
    path = tmp_path / "cut.pt"
    path.write_bytes(files["state"].read_bytes()[:300])
    with pytest.raises(ConfigError, match="cannot read a state dict") as err:
        load("pytorch", path, model_factory=tiny_net)
    assert str(path) in str(err.value)


def test_state_dict_that_does_not_match_names_the_keys(files):
    def wider() -> nn.Module:
        return nn.Sequential(nn.Conv2d(1, 6, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(6 * 8 * 8, 10))

    with pytest.raises(ConfigError) as err:
        load("pytorch", files["state"], model_factory=wider)
    text = str(err.value)
    assert str(files["state"]) in text
    assert "missing keys: 3.bias, 3.weight" in text and "unexpected keys: 1.bias" in text
    assert "0.weight (4, 1, 3, 3) != (6, 1, 3, 3)" in text


def test_state_dict_without_a_factory_says_so(files):
    with pytest.raises(ConfigError, match="model_factory"):
        load("pytorch", files["state"])


def test_unknown_and_unavailable_providers(files):
    import onnxruntime

    available = onnxruntime.get_available_providers()
    absent = next(p for p in onnxruntime.get_all_providers() if p not in available)
    for name in ("NoSuchExecutionProvider", absent):
        with pytest.raises(ConfigError) as err:
            load("onnxruntime", files["onnx"], BackendOptions(providers=(name,)))
        assert name in str(err.value) and "CPUExecutionProvider" in str(err.value)
    with pytest.raises(ConfigError) as err:
        load("onnxruntime", files["onnx"], BackendOptions(providers=("CPUExecutionProvder",)))
    assert err.value.suggestion == "CPUExecutionProvider"


# -- runtime errors: an exception, never an empty output

@pytest.mark.parametrize("backend", ["onnxruntime", "pytorch"])
def test_a_failing_prediction_raises_sut_error(files, backend):
    path = files["onnx"] if backend == "onnxruntime" else files["state"]
    model = load(backend, path, model_factory=tiny_net)
    with pytest.raises(SUTError, match=rf"{backend} failed on a batch of shape \(3, 2, 8, 8\)"):
        model.predict(np.zeros((3, 2, 8, 8), np.float32))


def test_an_output_that_is_not_batch_major_is_refused(files):
    class Pooled(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = tiny_net()

        def forward(self, x):
            return self.net(x).sum(dim=0)

    state = files["dir"] / "pooled.pt"
    torch.save(Pooled().state_dict(), state)
    with pytest.raises(SUTError, match="batch-major"):
        load("pytorch", state, model_factory=Pooled).predict(inputs(4))


def test_a_closed_model_refuses_to_run(files):
    model = load("onnxruntime", files["onnx"])
    model.close()
    with pytest.raises(SUTError, match="closed"):
        model.predict(inputs(1))


def test_submit_hands_done_the_output_or_the_exception(files):
    model = load("onnxruntime", files["onnx"])
    got: list = []
    model.submit(inputs(5), got.append)
    model.submit(np.zeros((2, 3), np.float32), got.append)
    assert isinstance(got[0], np.ndarray) and got[0].shape == (5, 10)
    assert isinstance(got[1], SUTError) and "(2, 3)" in str(got[1])
    assert not model.asynchronous


# -- the real digits model: small_resnet's state dict and its ONNX export

@pytest.fixture(scope="module")
def digits_files(tmp_path_factory) -> dict[str, Path]:
    from podium.workloads.classification import export_onnx
    from podium.models.digits import small_resnet

    out = tmp_path_factory.mktemp("digits")
    torch.manual_seed(5)
    net = small_resnet().eval()
    torch.save(net.state_dict(), out / "model.pt")
    export_onnx(net, torch.zeros(1, 1, 8, 8), out / "model.onnx")
    return {"state": out / "model.pt", "onnx": out / "model.onnx"}


def test_digits_export_loads_in_both_backends_at_any_batch_size(digits_files):
    from podium.models.digits import small_resnet

    torch.manual_seed(5)
    net = small_resnet().eval()
    onnx_model = load("onnxruntime", digits_files["onnx"], example_input=inputs(1))
    torch_model = load("pytorch", digits_files["state"], model_factory=small_resnet, example_input=inputs(1))
    assert onnx_model.input_name == "input" and onnx_model.output_names == ("logits",)
    assert onnx_model.batch_size is None and onnx_model.input_shape == (None, 1, 8, 8)
    for batch in BATCHES:
        x = inputs(batch, seed=batch)
        for model in (onnx_model, torch_model):
            np.testing.assert_allclose(model.predict(x), eager(net, x), atol=ATOL_FP32)
