"""`tiny-qa`: generated SQuAD-layout passages, a 2-layer BERT of width 64, Adam; SQuAD F1 >= 90 %.

Composed of shared parts: the tiny suite's generated SQuAD v1.1 files (`podium.datasets.tiny`'s "tiny-qa" set:
4,096 training and 128 eval questions, written by `podium.datasets.squad.generate_tiny` and read back by the `squad`
loader as WordPiece features of 64 tokens), the `tiny-bert` model (BERT-Large's architecture and state-dict keys,
sized down) and the `squad` metric, BERT's. Each paragraph tells one person's three facts — where they live, their
work, their birth year — in a shuffled order, and each question asks for one of them ("Where does X live?"), so
every answer is a span of its paragraph and reading it back scores F1 100: the best achievable score is 100 (the
first evaluation, after 50 steps, scores about 25). Training minimizes the cross-entropy of the answer's first and
last piece (the first place the answer's pieces appear in the feature), as BERT's SQuAD fine-tuning does; an
evaluation every 1,600 samples (50 steps) scores the eval questions with the metric an inference accuracy run is
scored by.

The target is set from runs of this recipe (torch 2.13 CPU): seeds 0 to 4 reached F1 90 within 200 to 300 steps
(6,400 to 9,600 samples; 6 to 10 s with one torch thread on a 2-core machine other jobs kept busy), and 95+ follows
within a few hundred more; the budget of 32,000 samples is over three times the slowest run. No RCP
(`reference`), as for the other tiny workloads. The data is generated before the clock (`prepare`) and read
(tokenized) on it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from podium.core.errors import ConfigError
from podium.core.vocabulary import Direction
from podium.models import MODELS
from podium.workloads import WORKLOADS
from podium.workloads.base import (CadenceUnit, EvalCadence, Hyperparameter, MLPerfIdentity, QualityTarget, Recipe,
                                   Rule, Workload)
from podium.workloads.torch_program import TorchProgram

NAME = "tiny-qa"
MODEL = "tiny-bert"
TARGET_F1 = 90.0  # percent, as the squad metric answers
BATCH = 32
EVAL_EVERY_SAMPLES = 1600
BUDGET_SAMPLES = 32000
TRAIN_QUESTIONS, EVAL_QUESTIONS = 4096, 128
EVAL_BATCH = 128
INPUTS = ("input_ids", "input_mask", "segment_ids")


def _positive(v: Any, _: Any) -> bool:
    return isinstance(v, (int, float)) and v > 0


def generated_set() -> Any:
    """The "tiny-qa" set of `podium.datasets.tiny`."""
    from podium.datasets.tiny import QA

    return QA


def generate_splits() -> None:
    """Write the train and eval files into the cache if they are not there (untimed)."""
    for split in ("train", "eval"):
        generated_set().split(split)


@dataclass
class Split:
    """The features of a split: records (input_ids, input_mask, segment_ids), their labels and the positions of
    each answer's first and last piece (0, 0 where the feature does not hold it: [CLS], as BERT's training does)."""

    inputs: Any
    labels: Any
    targets: Any


def answer_positions(label: Any, answer: list[str]) -> tuple[int, int]:
    """Where the pieces `answer` first appear in the feature's span, as feature positions; (0, 0) if nowhere."""
    span = list(label.pieces(label.doc_offset, label.doc_offset + label.span_length - 1))
    for k in range(len(span) - len(answer) + 1):
        if answer and span[k:k + len(answer)] == answer:
            return label.doc_offset + k, label.doc_offset + k + len(answer) - 1
    return 0, 0


def read_split(folder: Path) -> Split:
    """Every feature of a SQuAD-layout folder, through the `squad` dataset, with its answer's positions."""
    import numpy as np

    from podium.datasets import DATASETS
    from podium.datasets.squad import (TINY_DOC_STRIDE, TINY_MAX_QUERY_LENGTH, TINY_MAX_SEQ_LENGTH, VOCAB_FILE,
                                       wordpiece_tokenizer)

    dataset = DATASETS.get("squad")(folder, max_seq_length=TINY_MAX_SEQ_LENGTH, doc_stride=TINY_DOC_STRIDE,
                                    max_query_length=TINY_MAX_QUERY_LENGTH)
    indices = list(range(dataset.total_sample_count))
    dataset.load_samples(indices)
    labels = dataset.labels()
    tokenizer = wordpiece_tokenizer(Path(folder) / VOCAB_FILE)
    pieces = {a: tokenizer.encode(a, add_special_tokens=False).tokens for a in {lb.answers[0] for lb in labels}}
    targets = np.array([answer_positions(lb, pieces[lb.answers[0]]) for lb in labels], dtype=np.int64)
    return Split(dataset.get_samples(indices), labels, targets)


def load_splits() -> tuple[Split, Split]:
    qa = generated_set()
    return read_split(qa.split("train")), read_split(qa.split("eval"))


class QuestionAnsweringProgram(TorchProgram):
    """Program for `Workload`s whose `datasets()` returns (train, eval) `Split`s: random batches of training
    features, start/end cross-entropy, SQuAD F1 of the eval split (in %)."""

    input_dtype = "int64"

    def load_data(self) -> None:
        import numpy as np

        train, evaluation = self.workload.datasets() if self.workload.datasets else (None, None)
        if train is None or evaluation is None:
            raise ConfigError(f"workload {self.workload.name} has no data", key="datasets")
        tensor = self.torch.as_tensor
        self.train_inputs = [tensor(np.ascontiguousarray(train.inputs[n]), device=self.device) for n in INPUTS]
        self.train_targets = tensor(train.targets, device=self.device)
        self.eval_split = evaluation
        # Each rank draws its own batches: a generator of its own, from the run's seed.
        self.rng = np.random.default_rng([self.spec.seed, self.spec.rank])

    def _warm_up(self, shape: tuple[int, ...]) -> None:
        """One forward and backward on zero features, off the clock; the initial weights are restored."""
        import copy

        initial = copy.deepcopy(self.model.state_dict())
        zeros = self.torch.zeros((self.spec.per_rank_batch_size, *shape), dtype=self.torch.int64,
                                 device=self.device)
        with self.autocast():
            start, _ = self.train_model.train()(zeros, zeros, zeros)
            start.float().sum().backward()
        self.model.load_state_dict(initial)
        self.optimizer.zero_grad(set_to_none=True)

    def _batch(self) -> tuple[list[Any], Any]:
        rows = self.torch.as_tensor(self.rng.integers(0, len(self.train_targets), self.spec.per_rank_batch_size),
                                    device=self.device)
        return [x[rows] for x in self.train_inputs], self.train_targets[rows]

    def _loss(self, batch: tuple[list[Any], Any]) -> Any:
        inputs, targets = batch
        start, end = self.train_model(*inputs)
        cross_entropy = self.torch.nn.functional.cross_entropy
        return (cross_entropy(start.float(), targets[:, 0]) + cross_entropy(end.float(), targets[:, 1])) / 2

    def evaluate(self) -> float:
        """SQuAD F1 (%) of the eval questions, answered from the model's start and end logits."""
        import numpy as np

        from podium.metrics import METRICS

        torch, split = self.torch, self.eval_split
        self.model.eval()
        metric = METRICS.get("squad")
        with torch.no_grad(), self.autocast():
            for first in range(0, len(split.labels), EVAL_BATCH):
                rows = split.inputs[first:first + EVAL_BATCH]
                start, end = self.model(*(torch.as_tensor(np.ascontiguousarray(rows[n]), device=self.device)
                                          for n in INPUTS))
                logits = torch.stack([start.float(), end.float()], dim=-1).cpu().numpy()
                metric.update(list(logits), split.labels[first:first + EVAL_BATCH])
        return float(metric.compute().value)


@WORKLOADS.register(NAME)
def tiny_qa() -> Workload:
    model = MODELS.get(MODEL)
    return Workload(
        name=NAME,
        summary=f"generated SQuAD-layout passages, 2-layer BERT of width 64, Adam; SQuAD F1 >= {TARGET_F1:g} %",
        identity=MLPerfIdentity(benchmark=NAME, ruleset="6.1.0", own_rules=True),
        quality=QualityTarget(metric="F1", target=TARGET_F1, direction=Direction.HIGHER),
        cadence=EvalCadence(CadenceUnit.SAMPLES, every=EVAL_EVERY_SAMPLES),
        budget=BUDGET_SAMPLES,
        recipe=Recipe(optimizer="adam", per_rank_batch_size=BATCH, hyperparameters=(
            Hyperparameter("opt_base_learning_rate", 3e-3, tunable=True,
                           rule=Rule("podium tiny-qa rules: opt_base_learning_rate > 0", _positive)),
            Hyperparameter("opt_learning_rate_warmup_steps", 100, tunable=True),
        )),
        train_samples=TRAIN_QUESTIONS,
        eval_samples=EVAL_QUESTIONS,
        program=functools.partial(QuestionAnsweringProgram, model=model),
        datasets=load_splits,
        model=model.build,
        input_shape=model.input_shape,
        prepare=generate_splits,
        runs=3,
    )
