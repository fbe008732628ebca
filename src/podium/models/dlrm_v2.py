"""`dlrm-v2`: MLPerf's DLRMv2 (DCNv2) on the multi-hot Criteo (v3.1-v5.1), loading torchrec's state dict keys.

The network is torchrec's `DLRM_DCN` (torchrec/models/dlrm.py) wrapped in `DLRMTrain`, as MLPerf's reference
builds it (recommendation/dlrm_v2/pytorch/python/backend_pytorch_native.py and main.py `get_backend`):
- a dense arch (bottom MLP) 13-512-256-128, Linear then ReLU after every layer (torchrec `MLP` of `Perceptron`s),
- 26 embedding tables `t_cat_0` .. `t_cat_25` of dimension 128, summed bags over each row's multi-hot ids
  (`EmbeddingBagCollection`, pooling SUM), of the rows in `TABLE_ROWS` (40M-capped: 204,184,588 rows, 104.5 GB),
- the DCN interaction: the dense output and the 26 pooled embeddings concatenated (27 x 128 = 3456 features), then
  3 low-rank cross layers of rank 512 (`LowRankCrossNet`: x_{l+1} = x_0 * (W_l (V_l x_l) + b_l) + x_l, W_l
  (3456, 512), V_l (512, 3456), b_l (3456, 1)),
- an over arch (top MLP) 3456-1024-1024-512-256 with ReLUs, then a bare Linear 256-1 (the logit); the reference's
  predict applies the sigmoid, which this module's forward does too: its output is the click probability.

State dict keys are those of `DLRMTrain(DLRM_DCN(...)).state_dict()` (a "module." prefix of DistributedModelParallel
is removed by the PyTorch backend's unwrapping): `model.sparse_arch.embedding_bag_collection.embedding_bags.
t_cat_<k>.weight`, `model.dense_arch.model._mlp.<i>._linear.weight|bias`, `model.inter_arch.crossnet.W_kernels.<l>`,
`.V_kernels.<l>`, `.bias.<l>`, `model.over_arch.model.0._mlp.<i>._linear.weight|bias`, `model.over_arch.model.1.
weight|bias`. The published weights are a torchsnapshot of the sharded model, not a state dict: convert it to one
(e.g. torchsnapshot's `read_object` per key, saved with `torch.save`) before serving it here.

Inputs: "dense_features" (N, 13) float32 (the dataset's, already log-transformed by torchrec's preprocessing) and
"sparse_features" (N, 214) int64: each row's multi-hot ids, table after table, `MULTI_HOT_SIZES` of them per table
(3, 2, 1, 2, 6, 1, 1, 1, 1, 7, 3, 8, 1, 6, 9, 5, 1, 1, 1, 12, 100, 27, 10, 3, 1, 1: the synthetic multi-hot
dataset's); output "pred" (N, 1). The reference publishes no ONNX graph: the task is served by PyTorch only.

`build(state_dict)` sizes the network by the state dict and takes each table's tensor from it without a copy (a
checkpoint read with `torch.load(..., mmap=True)` keeps its tables on disk); `build()` is the full official size
with random weights, refused with a ConfigError naming the size when larger than this machine's memory.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from podium.core.errors import ConfigError
from podium.models import MODELS
from podium.models.base import Input, Model
from podium.models.dlrm import embedding_bags, refuse_oversized

DENSE_FEATURES = 13
SPARSE_FEATURES = 26
EMBEDDING_DIM = 128
# main.py get_backend, "multihot-criteo": num_embeddings_per_feature
TABLE_ROWS = (40000000, 39060, 17295, 7424, 20265, 3, 7122, 1543, 63, 40000000, 3067956, 405282, 10, 2209,
              11938, 155, 4, 976, 14, 40000000, 40000000, 40000000, 590152, 12973, 108, 36)
# tools/make_fake_criteo.sh --num-multihot-features; torchrec_dlrm's --multi_hot_sizes
MULTI_HOT_SIZES = (3, 2, 1, 2, 6, 1, 1, 1, 1, 7, 3, 8, 1, 6, 9, 5, 1, 1, 1, 12, 100, 27, 10, 3, 1, 1)
DENSE_ARCH = (DENSE_FEATURES, 512, 256, EMBEDDING_DIM)
OVER_ARCH = (1024, 1024, 512, 256, 1)
CROSS_LAYERS = 3
CROSS_RANK = 512
OUTPUTS = ("pred",)
INPUTS = (Input("dense_features", (DENSE_FEATURES,), "float32"),
          Input("sparse_features", (sum(MULTI_HOT_SIZES),), "int64"))

_TABLE = "model.sparse_arch.embedding_bag_collection.embedding_bags.t_cat_{}.weight"
_DENSE = "model.dense_arch.model._mlp.{}._linear.weight"
_OVER = "model.over_arch.model.0._mlp.{}._linear.weight"
_CROSS = "model.inter_arch.crossnet.W_kernels.{}"


def _count(state: Mapping[str, Any], pattern: str) -> int:
    n = 0
    while pattern.format(n) in state:
        n += 1
    if not n:
        raise ConfigError(f"the state dict has no {pattern.format(0)}: not a DLRMv2 (torchrec DLRMTrain) state dict",
                          key="state_dict")
    return n


def _sizes(state: Mapping[str, Any]) -> tuple[list[Any], tuple[int, ...], tuple[int, ...], int, int]:
    """(tables, dense widths, over widths after its input, cross layers, rank), read off a state dict."""
    tables = [state[_TABLE.format(k)] for k in range(_count(state, _TABLE))]
    dense = [state[_DENSE.format(i)] for i in range(_count(state, _DENSE))]
    over = [state[_OVER.format(i)] for i in range(_count(state, _OVER))]
    layers = _count(state, _CROSS)
    rank = int(state[_CROSS.format(0)].shape[1])
    dense_widths = (int(dense[0].shape[1]), *(int(w.shape[0]) for w in dense))
    over_widths = (*(int(w.shape[0]) for w in over), int(state["model.over_arch.model.1.weight"].shape[0]))
    return tables, dense_widths, over_widths, layers, rank


def dlrm_v2(state_dict: Mapping[str, Any] | None = None, *, table_rows: Sequence[int] = TABLE_ROWS,
            embedding_dim: int = EMBEDDING_DIM, dense: Sequence[int] = DENSE_ARCH, over: Sequence[int] = OVER_ARCH,
            cross_layers: int = CROSS_LAYERS, cross_rank: int = CROSS_RANK,
            multi_hot_sizes: Sequence[int] = MULTI_HOT_SIZES) -> Any:
    """The network: sized by `state_dict` (its tables taken without a copy), else by the keyword arguments (the
    reference's by default; random tables refused when larger than memory). Multi-hot sizes are not in a state
    dict: the official ones unless given."""
    import torch
    from torch import nn

    weights: list[Any] | None = None
    if state_dict is not None:
        weights, dense, over, cross_layers, cross_rank = _sizes(state_dict)
        table_rows = [int(w.shape[0]) for w in weights]
        embedding_dim = int(weights[0].shape[1])
    else:
        refuse_oversized("dlrm-v2", table_rows, embedding_dim)
    if len(multi_hot_sizes) != len(table_rows):
        raise ConfigError(f"dlrm-v2: {len(multi_hot_sizes)} multi-hot sizes for {len(table_rows)} tables",
                          key="multi_hot_sizes")
    features = (len(table_rows) + 1) * embedding_dim
    splits = [int(m) for m in multi_hot_sizes]

    class Perceptron(nn.Module):
        def __init__(self, n: int, m: int) -> None:
            super().__init__()
            self._linear = nn.Linear(n, m, bias=True)

        def forward(self, x: Any) -> Any:
            return torch.relu(self._linear(x))

    class MLP(nn.Module):
        """torchrec's MLP: `_mlp`, a Sequential of Perceptrons."""

        def __init__(self, widths: Sequence[int]) -> None:
            super().__init__()
            self._mlp = nn.Sequential(*(Perceptron(int(n), int(m)) for n, m in zip(widths[:-1], widths[1:])))

        def forward(self, x: Any) -> Any:
            return self._mlp(x)

    class CrossNet(nn.Module):
        """torchrec's LowRankCrossNet."""

        def __init__(self) -> None:
            super().__init__()
            self.W_kernels = nn.ParameterList(nn.Parameter(torch.empty(features, cross_rank))
                                              for _ in range(cross_layers))
            self.V_kernels = nn.ParameterList(nn.Parameter(torch.empty(cross_rank, features))
                                              for _ in range(cross_layers))
            self.bias = nn.ParameterList(nn.Parameter(torch.zeros(features, 1)) for _ in range(cross_layers))
            for p in (*self.W_kernels, *self.V_kernels):
                nn.init.xavier_normal_(p)

        def forward(self, x: Any) -> Any:
            x0 = x.unsqueeze(2)
            xl = x0
            for w, v, b in zip(self.W_kernels, self.V_kernels, self.bias):
                xl = x0 * (torch.matmul(w, torch.matmul(v, xl)) + b) + xl
            return xl.squeeze(2)

    class DCN(nn.Module):
        """DLRM_DCN's parts, under its attribute names."""

        def __init__(self) -> None:
            super().__init__()
            self.sparse_arch = nn.Module()
            self.sparse_arch.embedding_bag_collection = nn.Module()
            bags = embedding_bags(table_rows, embedding_dim, weights)
            self.sparse_arch.embedding_bag_collection.embedding_bags = nn.ModuleDict(
                {f"t_cat_{k}": bag for k, bag in enumerate(bags)})
            self.dense_arch = nn.Module()
            self.dense_arch.model = MLP(dense)
            self.inter_arch = nn.Module()
            self.inter_arch.crossnet = CrossNet()
            self.over_arch = nn.Module()
            self.over_arch.model = nn.Sequential(MLP((features, *over[:-1])),
                                                 nn.Linear(int(over[-2]), int(over[-1]), bias=True))

    class DLRMv2(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = DCN()

        def forward(self, dense_features: Any, sparse_features: Any) -> Any:
            """(N, 13) float32 and (N, sum(multi-hot sizes)) int64 -> (N, 1) click probabilities."""
            m: Any = self.model
            x = m.dense_arch.model(dense_features)
            ids = torch.split(sparse_features, splits, dim=1)
            bags = m.sparse_arch.embedding_bag_collection.embedding_bags.values()
            pooled = [bag(part.contiguous()) for bag, part in zip(bags, ids)]
            crossed = m.inter_arch.crossnet(torch.cat([x, *pooled], dim=1))
            return torch.sigmoid(m.over_arch.model(crossed))

    return DLRMv2()


@MODELS.register("dlrm-v2")
def _dlrm_v2() -> Model:
    return Model("dlrm-v2", build=dlrm_v2, input_shape=(DENSE_FEATURES,), classes=None, input_name="dense_features",
                 output_names=OUTPUTS, layout="NC", inputs=INPUTS)
