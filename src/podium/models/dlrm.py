"""`dlrm`: MLPerf's DLRM on Criteo Terabyte (v0.7-v3.0), whose state dict loads the reference checkpoint's keys.

The network is facebookresearch/dlrm's `DLRM_Net` (dlrm_s_pytorch.py) as MLPerf's reference builds it for
`--max-ind-range=40000000` (retired_benchmarks/recommendation/dlrm/pytorch/python/main.py, `get_backend`):
- a bottom MLP 13-512-256-128 on the dense features (Linear then ReLU after each layer),
- 26 embedding tables of dimension 128, summed bags (`nn.EmbeddingBag(mode="sum")`; the forward sums each bag
  with gathers and scatter-adds, the same sums, so that an ONNX export has no Loop), of the rows in `TABLE_ROWS`
  (the Terabyte feature counts, each capped at the 40M `max-ind-range`: 187,767,399 rows, 96.1 GB of float32),
- the "dot" interaction without self-interaction: the bottom MLP's output and the 26 pooled embeddings stacked
  (27 x 128), their pairwise dot products below the diagonal in row order ((1,0), (2,0), (2,1), ...: 351 of them)
  appended to the bottom output (479 features),
- a top MLP 479-1024-1024-512-256-1, ReLU after each layer but the last, which a sigmoid follows.

State dict keys are DLRM_Net's: `emb_l.<k>.weight` (rows, 128), `bot_l.<2i>.weight|bias` and `top_l.<2i>.weight|
bias` (the MLPs are `nn.Sequential`s alternating Linear and activation, so the Linears sit at even indices). The
published checkpoint `tb00_40M.pt` (90 GB) keeps them under "state_dict" (the PyTorch backend unwraps it).

Inputs, named as the official ONNX graph's (`tb00_40M.onnx`, exported by dlrm_s_pytorch.py `--save-onnx`):
"dense_x" (N, 13) float32 (log(x + 1) of the integer features), "offsets" and "indices" int64, output "pred"
(N, 1), the click probability. The official graph takes offsets and indices table-major (26, N), as DLRM_Net's
lS_o/lS_i; this module takes them batch-major (N, 26) — one row per user-item pair, so that a sample is one numpy
record — and the task's predictor feeds each layout to the graph that declares it. Each bag holds one index (Criteo
is one-hot): offsets[:, k] is 0, 1, ..., N-1.

`build(state_dict)` sizes the tables and MLP widths by the state dict (a small configuration under the same keys
loads: tests, the tiny suite), and takes each table's tensor from the state dict itself, without a copy: with a
checkpoint read by `torch.load(..., mmap=True)` the tables stay memory-mapped on disk and are paged in as bags are
looked up (loading the state dict into the module afterwards copies nothing onto itself). `build()` with no state
dict is the full official size with random weights, 96.1 GB: refused with a ConfigError naming the size when it
exceeds this machine's memory (`--model random` cannot run DLRM on a small machine; the reference's tables are as
large).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from podium.core.errors import ConfigError
from podium.models import MODELS
from podium.models.base import Input, Model

DENSE_FEATURES = 13
SPARSE_FEATURES = 26
EMBEDDING_DIM = 128
MAX_IND_RANGE = 40_000_000
# main.py get_backend, terabyte with --max-ind-range=40000000 (the Terabyte counts, capped at 40M)
TABLE_ROWS = (39884406, 39043, 17289, 7420, 20263, 3, 7120, 1543, 63, 38532951, 2953546, 403346, 10, 2208,
              11938, 155, 4, 976, 14, 39979771, 25641295, 39664984, 585935, 12972, 108, 36)
BOTTOM_MLP = (DENSE_FEATURES, 512, 256, EMBEDDING_DIM)
TOP_MLP = (1024, 1024, 512, 256, 1)
INPUTS = (Input("dense_x", (DENSE_FEATURES,), "float32"), Input("offsets", (SPARSE_FEATURES,), "int64"),
          Input("indices", (SPARSE_FEATURES,), "int64"))
OUTPUTS = ("pred",)
# Never build random tables past this share of the machine's memory.
MEMORY_SHARE = 0.8


def interaction_features(bottom: int, tables: int) -> int:
    """Width of the top MLP's input: the bottom output and the (tables + 1 choose 2) pairwise dot products."""
    vectors = tables + 1
    return bottom + vectors * (vectors - 1) // 2


def table_bytes(rows: Sequence[int], dim: int) -> int:
    return 4 * dim * sum(int(r) for r in rows)


def physical_memory_bytes() -> int | None:
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return None


def refuse_oversized(name: str, rows: Sequence[int], dim: int) -> None:
    """A ConfigError naming the size when random tables of `rows` x `dim` float32 would not fit in memory."""
    size, memory = table_bytes(rows, dim), physical_memory_bytes()
    if memory is not None and size > MEMORY_SHARE * memory:
        raise ConfigError(f"{name} at full size has {sum(rows):,} embedding rows x {dim} float32 = {size / 1e9:.1f} "
                          f"GB, more than this machine's {memory / 1e9:.1f} GB of memory: random weights cannot be "
                          f"built here; give the reference checkpoint (read memory-mapped) or a smaller state dict",
                          key="--model")


def _mlp_widths(state: Mapping[str, Any], prefix: str) -> tuple[int, ...]:
    """(in, out1, out2, ...) of an nn.Sequential of Linears at even indices, read off `prefix.<2i>.weight`."""
    widths: list[int] = []
    i = 0
    while f"{prefix}.{i}.weight" in state:
        out, inp = (int(n) for n in state[f"{prefix}.{i}.weight"].shape)
        widths += [inp, out] if not widths else [out]
        i += 2
    if not widths:
        raise ConfigError(f"the state dict has no {prefix}.0.weight: not a DLRM state dict", key="state_dict")
    return tuple(widths)


def _tables(state: Mapping[str, Any]) -> list[Any]:
    tables: list[Any] = []
    while f"emb_l.{len(tables)}.weight" in state:
        tables.append(state[f"emb_l.{len(tables)}.weight"])
    if not tables:
        raise ConfigError("the state dict has no emb_l.0.weight: not a DLRM state dict", key="state_dict")
    return tables


def mlp(widths: Sequence[int], last: str) -> Any:
    """nn.Sequential(Linear, ReLU, ..., Linear, `last`): DLRM_Net's create_mlp; `last` is "relu" or "sigmoid"."""
    from torch import nn

    layers: list[Any] = []
    for k, (n, m) in enumerate(zip(widths[:-1], widths[1:])):
        layers.append(nn.Linear(int(n), int(m), bias=True))
        final = k == len(widths) - 2
        layers.append(nn.Sigmoid() if final and last == "sigmoid" else nn.ReLU())
    return nn.Sequential(*layers)


def embedding_bags(rows: Sequence[int], dim: int, weights: Sequence[Any] | None = None) -> Any:
    """nn.ModuleList of summed EmbeddingBags: new ones of `rows` x `dim`, or wrapping `weights` without a copy."""
    from torch import nn

    if weights is not None:
        return nn.ModuleList(nn.EmbeddingBag.from_pretrained(w, freeze=True, mode="sum") for w in weights)
    return nn.ModuleList(nn.EmbeddingBag(int(n), dim, mode="sum") for n in rows)


def bag_sum(weight: Any, indices: Any, offsets: Any) -> Any:
    """EmbeddingBag(mode="sum") of one table: the rows of `indices` (L,) summed into the N bags starting at
    `offsets` (N,), ascending. Written as gathers and scatter-adds, so that an ONNX export has no Loop (torch
    exports EmbeddingBag as one, some 30 times slower here)."""
    import torch

    rows = weight.index_select(0, indices)  # (L, D)
    starts = torch.zeros_like(indices).scatter_add(0, offsets, torch.ones_like(offsets))
    bag = (torch.cumsum(starts, 0) - 1).unsqueeze(1).expand(-1, weight.shape[1])
    out = torch.zeros((offsets.shape[0], weight.shape[1]), dtype=weight.dtype, device=weight.device)
    return out.scatter_add(0, bag, rows)


def lower_pairs(vectors: int) -> list[int]:
    """Flat positions (i * vectors + j) of the pairs j < i, in row order: DLRM_Net's li, lj (no self-interaction)."""
    return [i * vectors + j for i in range(vectors) for j in range(i)]


def dot_interaction(x: Any, pooled: list[Any]) -> Any:
    """DLRM_Net.interact_features ("dot", no self-interaction): (N, D) and T x (N, D) -> (N, D + (T+1)T/2). The
    pairs are constants (an ONNX export takes them as such; torch.tril_indices has no ONNX form)."""
    import torch

    stacked = torch.stack([x, *pooled], dim=1)  # (N, T + 1, D)
    products = torch.bmm(stacked, stacked.transpose(1, 2)).flatten(1)
    pairs = torch.tensor(lower_pairs(len(pooled) + 1), dtype=torch.int64, device=x.device)
    return torch.cat([x, products.index_select(1, pairs)], dim=1)


def dlrm(state_dict: Mapping[str, Any] | None = None, *, table_rows: Sequence[int] = TABLE_ROWS,
         embedding_dim: int = EMBEDDING_DIM, bottom: Sequence[int] = BOTTOM_MLP,
         top: Sequence[int] = TOP_MLP) -> Any:
    """The network: sized by `state_dict` (its tables taken without a copy), else by the keyword arguments (the
    reference's by default; random tables refused when larger than memory)."""
    from torch import nn

    if state_dict is not None:
        weights = _tables(state_dict)
        table_rows = [int(w.shape[0]) for w in weights]
        embedding_dim = int(weights[0].shape[1])
        bottom, top_widths = _mlp_widths(state_dict, "bot_l"), _mlp_widths(state_dict, "top_l")
        top = top_widths[1:]
    else:
        weights = None
        refuse_oversized("dlrm", table_rows, embedding_dim)

    class DLRMNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb_l = embedding_bags(table_rows, embedding_dim, weights)
            self.bot_l = mlp(tuple(bottom), "relu")
            self.top_l = mlp((interaction_features(int(bottom[-1]), len(table_rows)), *top), "sigmoid")

        def forward(self, dense_x: Any, offsets: Any, indices: Any) -> Any:
            """(N, 13) float32, (N, T) and (N, T) int64 (batch-major) -> (N, 1) click probabilities."""
            x = self.bot_l(dense_x)
            pooled = [bag_sum(bag.weight, indices[:, k], offsets[:, k]) for k, bag in enumerate(self.emb_l)]
            return self.top_l(dot_interaction(x, pooled))

    return DLRMNet()


# The tiny suite's click-through model (`tiny-ctr`): the same network, 26 tables of 16 rows, dimension 16.
TINY_TABLE_ROWS, TINY_DIM = 16, 16


def tiny_dlrm(state_dict: Mapping[str, Any] | None = None) -> Any:
    """DLRM in small (`tiny-dlrm`): 26 tables of 16 x 16, bottom MLP 13-32-16, top MLP 367-32-1; a state dict
    sizes it as `dlrm`'s does."""
    if state_dict is not None:
        return dlrm(state_dict)
    return dlrm(table_rows=[TINY_TABLE_ROWS] * SPARSE_FEATURES, embedding_dim=TINY_DIM,
                bottom=(DENSE_FEATURES, 32, TINY_DIM), top=(32, 1))


@MODELS.register("tiny-dlrm")
def _tiny_dlrm() -> Model:
    return Model("tiny-dlrm", build=tiny_dlrm, input_shape=(DENSE_FEATURES,), classes=None, input_name="dense_x",
                 output_names=OUTPUTS, layout="NC", inputs=INPUTS)


@MODELS.register("dlrm")
def _dlrm() -> Model:
    return Model("dlrm", build=dlrm, input_shape=(DENSE_FEATURES,), classes=None, input_name="dense_x",
                 output_names=OUTPUTS, layout="NC", inputs=INPUTS)
