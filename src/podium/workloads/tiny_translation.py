"""`tiny-translation`: a generated language pair in WMT16 layout, a small GNMT, Adam; BLEU >= 90 (best: 100).

Composed of shared parts: sentence pairs of the synthetic language pair `podium.datasets.wmt16` generates (2,048
training and 64 eval pairs, in the newstest2014 layout, read back by the `wmt16` loader), the `tiny-gnmt` model
(MLPerf's GNMT shape, 2 + 2 LSTM layers of 64) and the `bleu` metric, GNMT's. The best achievable BLEU is 100:
every English word has one German translation and the word order follows a fixed rule (each adjacent pair
swapped), so a translation can match its reference exactly. Training minimizes the cross-entropy of each next
target token given the reference's previous ones (teacher forcing), padding ignored; an evaluation every 1,600
pairs (50 steps of 32) translates the eval split with the benchmark's beam search (beam 10, length normalization
and coverage penalty as the reference) and scores it as the accuracy script does.

The target is set from runs of this recipe (one CPU thread, torch 2.x CPU, Adam at 0.01): seeds 0 to 6 all
reached BLEU 90 within 400 to 800 steps (8 to 16 evaluations; 12,800 to 25,600 pairs), at about 17 ms a step on an
idle core (7 to 14 s a run; 2 threads on a busy 2-core machine were many times slower); the budget of 96,000
pairs (3,000 steps) is over three times the slowest run. Adam at 0.02 plateaus in the 80s for some seeds. The
data is generated before the clock (`prepare`) and read on it. No RCP (`reference`), as for the other tiny workloads.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from podium.core.vocabulary import Direction
from podium.datasets.tiny import TRANSLATION
from podium.metrics import METRICS
from podium.models import MODELS
from podium.workloads import WORKLOADS
from podium.workloads.base import (CadenceUnit, EvalCadence, Hyperparameter, MLPerfIdentity,
                                   QualityTarget, Recipe, Rule, Workload)
from podium.workloads.torch_program import TorchProgram

NAME = "tiny-translation"
MODEL = "tiny-gnmt"
TARGET_BLEU = 90.0
BEST_BLEU = 100.0  # a translation can match its reference exactly (see the module docstring)
BATCH = 32
EVAL_EVERY_SAMPLES = 1600
BUDGET_SAMPLES = 96000
TRAIN_PAIRS, EVAL_PAIRS = 2048, 64
REFERENCE_FILE = "newstest2014.tok.bpe.32000.de"


def _positive(v: Any, _: Any) -> bool:
    return isinstance(v, (int, float)) and v > 0


def generate_splits() -> None:
    """Write the train and eval pairs into the cache if they are not there (untimed)."""
    for split in ("train", "eval"):
        TRANSLATION.split(split)


Split = tuple[list[Any], list[Any], list[str]]  # source ids, target ids, references


def read_split(folder: Path) -> Split:
    """(source sentences, target sentences as ids, reference texts) of a WMT16-layout folder, through the `wmt16`
    dataset (sources and labels) and its vocabulary (targets: the reference file's lines, tokenized alike)."""
    from podium.datasets import DATASETS

    dataset = DATASETS.get("wmt16")(folder)
    indices = list(range(dataset.total_sample_count))
    dataset.load_samples(indices)
    sources = list(dataset.get_samples(indices))
    lines = (folder / REFERENCE_FILE).read_text(encoding="utf-8").splitlines()
    targets = [dataset.vocabulary.encode(line) for line in lines]  # type: ignore[attr-defined]
    return sources, targets, [str(label) for label in dataset.labels()]


def load_splits() -> tuple[Split, Split]:
    return read_split(TRANSLATION.split("train")), read_split(TRANSLATION.split("eval"))


class TranslationProgram(TorchProgram):
    """Teacher-forced cross-entropy on random batches of pairs; BLEU of beam-search translations as the eval."""

    exports_onnx = False  # served by PyTorch alone: its task decodes step by step

    def load_data(self) -> None:
        import numpy as np

        (self.sources, self.targets, _), (self.eval_sources, _, self.references) = \
            self.workload.datasets() if self.workload.datasets else (([], [], []), ([], [], []))
        self.rng = np.random.default_rng([self.spec.seed, self.spec.rank])

    def _padded(self, rows: list[Any]) -> Any:
        import numpy as np

        from podium.models.gnmt import PAD

        block = np.full((len(rows), max(len(r) for r in rows)), PAD, dtype=np.int64)
        for i, row in enumerate(rows):
            block[i, :len(row)] = row
        return self.torch.as_tensor(block, device=self.device)

    def _batch(self) -> tuple[Any, Any, Any]:
        """`per_rank_batch_size` random pairs: sources (B, S), their lengths (B,), targets (B, T) with <s> and EOS."""
        picks = self.rng.integers(len(self.sources), size=self.spec.per_rank_batch_size)
        sources = [self.sources[int(i)] for i in picks]
        lengths = self.torch.tensor([len(s) for s in sources], dtype=self.torch.int64)
        return self._padded(sources), lengths, self._padded([self.targets[int(i)] for i in picks])

    def _loss(self, batch: tuple[Any, Any, Any]) -> Any:
        from podium.models.gnmt import PAD

        sources, lengths, targets = batch
        logits = self.train_model(sources, lengths, targets[:, :-1]).float()
        return self.torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                                      targets[:, 1:].reshape(-1), ignore_index=PAD)

    def evaluate(self) -> float:
        """BLEU of the eval split's beam-search translations against its references, in points."""
        from podium.models.gnmt import beam_search

        self.model.eval()
        vocabulary = self.eval_sources[0].vocabulary
        bleu = METRICS.get("bleu")
        with self.torch.no_grad(), self.autocast():
            translations = beam_search().translate(self.model, self.eval_sources, self.device)
        bleu.update([vocabulary.decode(ids) for ids in translations], self.references)
        return float(bleu.compute().value)



@WORKLOADS.register(NAME)
def tiny_translation() -> Workload:
    model = MODELS.get(MODEL)
    return Workload(
        name=NAME,
        summary=f"generated WMT16-layout sentence pairs, tiny GNMT, Adam; BLEU >= {TARGET_BLEU:g}",
        identity=MLPerfIdentity(benchmark=NAME, ruleset="6.1.0", own_rules=True),
        quality=QualityTarget(metric="bleu", target=TARGET_BLEU, direction=Direction.HIGHER),
        cadence=EvalCadence(CadenceUnit.SAMPLES, every=EVAL_EVERY_SAMPLES),
        budget=BUDGET_SAMPLES,
        recipe=Recipe(optimizer="adam", per_rank_batch_size=BATCH, hyperparameters=(
            Hyperparameter("opt_base_learning_rate", 0.01, tunable=True,
                           rule=Rule("podium tiny-translation rules: opt_base_learning_rate > 0", _positive)),
            Hyperparameter("opt_learning_rate_warmup_steps", 0, tunable=True),
        )),
        train_samples=TRAIN_PAIRS,
        eval_samples=EVAL_PAIRS,
        program=functools.partial(TranslationProgram, model=model),
        datasets=load_splits,
        model=model.build,
        input_shape=model.input_shape,
        prepare=generate_splits,
        runs=3,
    )
