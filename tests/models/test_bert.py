"""The `bert` model: BERT-Large for question answering under the reference checkpoint's keys (its size checked on the
meta device, without allocating 1.3 GB), sized by a state dict, masking padding, exported to ONNX under the official
graph's names."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from podium.core.errors import ConfigError  # noqa: E402
from podium.models import MODELS  # noqa: E402
from podium.models.bert import SMALL, BertConfig, bert_for_question_answering, build, config_from_state_dict  # noqa: E402

LAYER_KEYS = [f"attention.self.{p}.{w}" for p in ("query", "key", "value") for w in ("weight", "bias")] + [
    f"{m}.{w}" for m in ("attention.output.dense", "attention.output.LayerNorm", "intermediate.dense",
                         "output.dense", "output.LayerNorm") for w in ("weight", "bias")]


def _reference_keys(layers: int, pooler: bool = True) -> list[str]:
    """BertForQuestionAnswering's state dict keys (transformers 2.4.0, as bert_tf_to_pytorch.py saved them)."""
    keys = [f"bert.embeddings.{e}.weight" for e in ("word_embeddings", "position_embeddings",
                                                     "token_type_embeddings")]
    keys += ["bert.embeddings.LayerNorm.weight", "bert.embeddings.LayerNorm.bias"]
    keys += [f"bert.encoder.layer.{n}.{k}" for n in range(layers) for k in LAYER_KEYS]
    keys += ["bert.pooler.dense.weight", "bert.pooler.dense.bias"] if pooler else []
    return keys + ["qa_outputs.weight", "qa_outputs.bias"]


def test_registered_with_the_official_graph_names() -> None:
    model = MODELS.get("bert")
    assert model.input_names == ("input_ids", "input_mask", "segment_ids")
    assert model.output_names == ("output_start_logits", "output_end_logits")
    assert [(i.shape, i.dtype) for i in model.inputs] == [((384,), "int64")] * 3
    assert model.build is build


def test_bert_large_has_the_reference_keys_and_335m_parameters() -> None:
    with torch.device("meta"):  # shapes only: no memory
        large = build()
    state = large.state_dict()
    assert list(state) == _reference_keys(24)
    assert sum(p.numel() for p in large.parameters()) == 335_143_938  # bert-large (pooler incl.) + 2 x 1025
    assert tuple(state["bert.embeddings.word_embeddings.weight"].shape) == (30522, 1024)
    assert tuple(state["bert.encoder.layer.23.intermediate.dense.weight"].shape) == (4096, 1024)
    assert tuple(state["qa_outputs.weight"].shape) == (2, 1024)
    assert config_from_state_dict(state) == BertConfig()  # 16 heads = 1024 / 64


def test_sized_by_a_state_dict_with_or_without_pooler_and_position_ids() -> None:
    torch.manual_seed(0)
    small = bert_for_question_answering(BertConfig(vocab_size=50, hidden_size=128, num_hidden_layers=3,
                                                   num_attention_heads=2, intermediate_size=256,
                                                   max_position_embeddings=400, pooler=False))
    state = small.state_dict()
    assert list(state) == _reference_keys(3, pooler=False)
    rebuilt = build(state)
    assert rebuilt.config.num_attention_heads == 2 and not rebuilt.config.pooler
    rebuilt.load_state_dict(state)  # strict
    with_ids = dict(state, **{"bert.embeddings.position_ids": torch.arange(400)[None]})
    build(with_ids).load_state_dict(with_ids)
    with pytest.raises(ConfigError, match="no 'bert.embeddings.word_embeddings.weight'"):
        build({"qa_outputs.weight": torch.zeros(2, 8)})
    with pytest.raises(ConfigError, match="numbered 0..N-1"):
        build({k: v for k, v in state.items() if not k.startswith("bert.encoder.layer.1.")})


def _inputs(n: int = 2, length: int = 384, real: int = 40) -> tuple:
    generator = torch.Generator().manual_seed(1)
    ids = torch.randint(5, SMALL.vocab_size, (n, length), generator=generator)
    mask = torch.zeros(n, length, dtype=torch.int64)
    mask[:, :real] = 1
    segments = torch.zeros(n, length, dtype=torch.int64)
    segments[:, 10:real] = 1
    ids[:, real:] = 0
    return ids, mask, segments


def test_forward_answers_start_and_end_logits_and_ignores_padding() -> None:
    torch.manual_seed(0)
    model = bert_for_question_answering(SMALL).eval()
    ids, mask, segments = _inputs()
    with torch.no_grad():
        start, end = model(ids, mask, segments)
        assert start.shape == end.shape == (2, 384) and start.dtype == torch.float32
        noisy = ids.clone()
        noisy[:, 40:] = 7  # what sits under the mask does not change the real tokens' logits
        start2, end2 = model(noisy, mask, segments)
        flipped = model(ids, mask, 1 - segments)[0]
    torch.testing.assert_close(start2[:, :40], start[:, :40], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(end2[:, :40], end[:, :40], rtol=1e-5, atol=1e-5)
    assert not torch.allclose(flipped[:, :40], start[:, :40])  # segments count


def test_attention_is_scaled_dot_product_over_unmasked_keys() -> None:
    """One layer's self-attention against torch's own scaled_dot_product_attention with a boolean mask."""
    torch.manual_seed(0)
    model = bert_for_question_answering(BertConfig(vocab_size=30, hidden_size=128, num_hidden_layers=1,
                                                   num_attention_heads=2, intermediate_size=64)).eval()
    attention = model.bert.encoder.layer[0].attention.self
    x = torch.randn(1, 12, 128)
    keep = torch.tensor([[1] * 8 + [0] * 4])
    with torch.no_grad():
        ours = attention(x, (1.0 - keep[:, None, None, :].float()) * -10000.0)
        q, k, v = (lin(x).view(1, 12, 2, 64).transpose(1, 2) for lin in (attention.query, attention.key,
                                                                             attention.value))
        expected = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=keep.bool()[:, None, None, :])
    torch.testing.assert_close(ours, expected.transpose(1, 2).reshape(1, 12, 128), rtol=1e-5, atol=1e-5)


def test_onnx_export_has_the_official_names_and_answers_as_torch(tmp_path) -> None:
    pytest.importorskip("onnxruntime")
    import onnxruntime

    from podium.models.export import export_onnx

    torch.manual_seed(0)
    model = bert_for_question_answering(SMALL).eval()
    path = export_onnx(model, MODELS.get("bert"), tmp_path / "bert.onnx")
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [(i.name, i.type) for i in session.get_inputs()] == [(n, "tensor(int64)") for n in
                                                                ("input_ids", "input_mask", "segment_ids")]
    assert [o.name for o in session.get_outputs()] == ["output_start_logits", "output_end_logits"]
    ids, mask, segments = _inputs(3)
    start, end = session.run(None, {"input_ids": ids.numpy(), "input_mask": mask.numpy(),
                                    "segment_ids": segments.numpy()})
    with torch.no_grad():
        expected = model(ids, mask, segments)
    np.testing.assert_allclose(start, expected[0].numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(end, expected[1].numpy(), rtol=1e-4, atol=1e-4)


def test_the_tiny_suites_bert_is_the_same_architecture_over_64_tokens() -> None:
    from podium.models.bert import TINY, TINY_SEQ_LENGTH, build_tiny

    model = MODELS.get("tiny-bert")
    assert model.input_names == ("input_ids", "input_mask", "segment_ids") and model.input_shape == (TINY_SEQ_LENGTH,)
    assert model.output_names == ("output_start_logits", "output_end_logits")
    state = build_tiny().state_dict()
    assert list(state) == _reference_keys(TINY.num_hidden_layers, pooler=False)
    assert config_from_state_dict(state) == TINY
