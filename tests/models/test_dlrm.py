"""`dlrm` and `dlrm-v2`: the reference networks under their checkpoints' keys, sized by a state dict, tables taken
from a (memory-mapped) state dict without a copy, full-size random tables refused on a small machine."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from podium.core.errors import ConfigError  # noqa: E402
from podium.models import MODELS  # noqa: E402
from podium.models.dlrm import TABLE_ROWS, dlrm, dot_interaction, interaction_features, table_bytes  # noqa: E402
from podium.models.dlrm_v2 import MULTI_HOT_SIZES, dlrm_v2  # noqa: E402
from podium.models.dlrm_v2 import TABLE_ROWS as V2_ROWS  # noqa: E402


def _small(**kw):
    torch.manual_seed(0)
    return dlrm(table_rows=[10] * 26, **kw).eval()


def test_reference_widths_and_keys() -> None:
    """DLRM_Net's keys: emb_l.k, bot_l / top_l Linears at even indices; 13-512-256-128 and 479-1024-1024-512-256-1."""
    state = _small().state_dict()
    assert [k for k in state if k.startswith("emb_l.")] == [f"emb_l.{k}.weight" for k in range(26)]
    shapes = {k: tuple(v.shape) for k, v in state.items() if not k.startswith("emb_l.")}
    assert shapes == {"bot_l.0.weight": (512, 13), "bot_l.0.bias": (512,), "bot_l.2.weight": (256, 512),
                      "bot_l.2.bias": (256,), "bot_l.4.weight": (128, 256), "bot_l.4.bias": (128,),
                      "top_l.0.weight": (1024, 479), "top_l.0.bias": (1024,), "top_l.2.weight": (1024, 1024),
                      "top_l.2.bias": (1024,), "top_l.4.weight": (512, 1024), "top_l.4.bias": (512,),
                      "top_l.6.weight": (256, 512), "top_l.6.bias": (256,), "top_l.8.weight": (1, 256),
                      "top_l.8.bias": (1,)}
    assert state["emb_l.3.weight"].shape == (10, 128)
    assert interaction_features(128, 26) == 479
    assert sum(TABLE_ROWS) == 187_767_399 and table_bytes(TABLE_ROWS, 128) == 96_136_908_288


def test_dot_interaction_is_the_lower_triangle_in_row_order() -> None:
    x = torch.tensor([[1.0, 2.0]])
    pooled = [torch.tensor([[3.0, 0.0]]), torch.tensor([[0.0, 5.0]])]
    out = dot_interaction(x, pooled)
    # x, then <e0, x>, <e1, x>, <e1, e0>
    assert out.tolist() == [[1.0, 2.0, 3.0, 10.0, 0.0]]


def test_bags_are_summed_as_embedding_bag_sums() -> None:
    from podium.models.dlrm import bag_sum

    weight = torch.rand(6, 3)
    indices, offsets = torch.tensor([4, 0, 5, 5, 1]), torch.tensor([0, 2, 3])  # bags of 2, 1 and 2 rows
    expected = torch.nn.functional.embedding_bag(indices, weight, offsets, mode="sum")
    torch.testing.assert_close(bag_sum(weight, indices, offsets), expected)


def test_forward_is_probabilities_and_offsets_index_bags() -> None:
    module = _small(embedding_dim=4, bottom=(13, 8, 4), top=(8, 1))
    n = 5
    dense = torch.rand(n, 13)
    indices = torch.randint(0, 10, (n, 26))
    offsets = torch.arange(n).unsqueeze(1).repeat(1, 26)
    with torch.no_grad():
        out = module(dense, offsets, indices)
        # a batch of one row answers the same as the row within the batch
        single = module(dense[2:3], torch.zeros(1, 26, dtype=torch.int64), indices[2:3])
    assert out.shape == (n, 1) and bool(((out > 0) & (out < 1)).all())
    torch.testing.assert_close(single[0], out[2])


def test_a_state_dict_sizes_the_network_and_lends_its_tables(tmp_path: Path) -> None:
    small = _small(embedding_dim=4, bottom=(13, 8, 4), top=(8, 1))
    path = tmp_path / "dlrm.pt"
    torch.save(small.state_dict(), path)
    state = torch.load(path, mmap=True, weights_only=True)  # tables stay in the file, paged in on use
    module = MODELS.get("dlrm").build(state_dict=state)
    module.load_state_dict(state)  # what the PyTorch backend does: no copy onto the lent tables
    assert module.emb_l[7].weight.data_ptr() == state["emb_l.7.weight"].data_ptr()
    assert module.top_l[0].weight.shape == (8, 4 + 351)
    x = (torch.rand(3, 13), torch.arange(3).unsqueeze(1).repeat(1, 26), torch.randint(0, 10, (3, 26)))
    with torch.no_grad():
        torch.testing.assert_close(module(*x), small(*x))


def test_full_size_random_tables_are_refused_naming_the_size(monkeypatch: pytest.MonkeyPatch) -> None:
    import podium.models.dlrm as definition

    monkeypatch.setattr(definition, "physical_memory_bytes", lambda: 24 << 30)
    with pytest.raises(ConfigError, match=r"187,767,399 embedding rows x 128 float32 = 96\.1 GB"):
        MODELS.get("dlrm").build()
    with pytest.raises(ConfigError, match=r"dlrm-v2 at full size has 204,184,588 embedding rows x 128 float32 = 104"):
        MODELS.get("dlrm-v2").build()
    assert sum(V2_ROWS) == 204_184_588


def test_not_a_dlrm_state_dict() -> None:
    with pytest.raises(ConfigError, match="emb_l.0.weight"):
        dlrm(state_dict={"fc.weight": torch.zeros(2, 2)})
    with pytest.raises(ConfigError, match="DLRMTrain"):
        dlrm_v2(state_dict={"fc.weight": torch.zeros(2, 2)})


def _small_v2():
    torch.manual_seed(0)
    return dlrm_v2(table_rows=[10] * 26, embedding_dim=4, dense=(13, 8, 4), over=(8, 1), cross_layers=3,
                   cross_rank=2).eval()


def test_v2_keys_are_torchrec_dlrm_train() -> None:
    state = dlrm_v2(table_rows=[10] * 26).state_dict()
    shapes = {k: tuple(v.shape) for k, v in state.items() if "embedding_bags" not in k}
    prefix = "model.sparse_arch.embedding_bag_collection.embedding_bags."
    assert [k for k in state if "embedding_bags" in k] == [f"{prefix}t_cat_{k}.weight" for k in range(26)]
    assert shapes["model.dense_arch.model._mlp.0._linear.weight"] == (512, 13)
    assert shapes["model.dense_arch.model._mlp.2._linear.weight"] == (128, 256)
    assert shapes["model.inter_arch.crossnet.W_kernels.2"] == (3456, 512)
    assert shapes["model.inter_arch.crossnet.V_kernels.0"] == (512, 3456)
    assert shapes["model.inter_arch.crossnet.bias.1"] == (3456, 1)
    assert shapes["model.over_arch.model.0._mlp.0._linear.weight"] == (1024, 3456)
    assert shapes["model.over_arch.model.0._mlp.3._linear.weight"] == (256, 512)
    assert shapes["model.over_arch.model.1.weight"] == (1, 256)
    assert len(state) == 26 + 6 + 9 + 8 + 2
    assert sum(MULTI_HOT_SIZES) == 214 and MODELS.get("dlrm-v2").sample_dtype()["sparse_features"].shape == (214,)


def test_v2_forward_is_the_low_rank_cross_net() -> None:
    module = _small_v2()
    with torch.no_grad():
        for p in module.model.inter_arch.crossnet.bias:
            p.uniform_(-0.5, 0.5)
    dense = torch.rand(3, 13)
    sparse = torch.randint(0, 10, (3, 214))
    with torch.no_grad():
        out = module(dense, sparse)
        m = module.model
        x = m.dense_arch.model(dense)
        parts = torch.split(sparse, list(MULTI_HOT_SIZES), dim=1)
        tables = [bag.weight for bag in m.sparse_arch.embedding_bag_collection.embedding_bags.values()]
        pooled = [t[p].sum(dim=1) for t, p in zip(tables, parts)]  # summed bags of each row's ids
        x0 = torch.cat([x, *pooled], dim=1).numpy().astype(np.float64)
        xl = x0
        crossnet = m.inter_arch.crossnet
        for w, v, b in zip(crossnet.W_kernels, crossnet.V_kernels, crossnet.bias):
            w, v, b = (t.numpy().astype(np.float64) for t in (w, v, b))
            xl = x0 * ((xl @ v.T) @ w.T + b[:, 0]) + xl
        logit = m.over_arch.model(torch.from_numpy(xl.astype(np.float32)))
    np.testing.assert_allclose(out.numpy(), torch.sigmoid(logit).numpy(), rtol=1e-4, atol=1e-5)


def test_v2_state_dict_sizes_the_network(tmp_path: Path) -> None:
    small = _small_v2()
    torch.save(small.state_dict(), tmp_path / "v2.pt")
    state = torch.load(tmp_path / "v2.pt", mmap=True, weights_only=True)
    module = dlrm_v2(state_dict=state)
    module.load_state_dict(state)
    bag = module.model.sparse_arch.embedding_bag_collection.embedding_bags["t_cat_20"]
    assert bag.weight.data_ptr() == state[
        "model.sparse_arch.embedding_bag_collection.embedding_bags.t_cat_20.weight"].data_ptr()
    assert len(module.model.inter_arch.crossnet.W_kernels) == 3
