"""`tiny-speech`: generated LibriSpeech-layout audio, the tiny RNN-T, Adam on the transducer loss; word accuracy >= 90.

Composed of shared parts: utterances in the RNN-T reference's manifest layout (`podium.datasets.librispeech`: its
generator renders each character of a transcript as a tone of its own pitch, 120 ms, with 30 ms gaps; a space is
silence), read back by its loader; the `tiny-rnnt` model (the reference's features and architecture, narrower:
`podium.models.rnnt.TINY`), trained with the RNN-T loss (`transducer_loss`, the sum over every alignment), and
scored as the inference benchmark scores it: greedy decoding (`greedy_decode`, the reference's) and the
`word_accuracy` metric, 100 - WER in percent. Every character is a distinct pitch over little noise, so a perfect
reader scores 100 %: the best achievable word accuracy, which the target leaves room under. Transcripts are 1 to 4
words of a 16-word vocabulary over 16 letters; 256 training and 64 eval utterances.

The target and budget come from runs of this recipe on a 2-core CPU (torch 2.13 CPU): the loss plateaus while the
alignment is found (some 100 steps of 16 utterances), then the eval word accuracy climbs; seeds 0 to 9 and three
random seeds all reached 90 % within 2400 to 5200 utterances (150 to 325 steps, 5 to 10 s on an idle machine,
evaluations included). The budget (12000 utterances, 750 steps) is over twice the slowest run seen. The features of the
training utterances are computed once when the data is loaded (on the clock), with the model's own featurizer.
No RCP. The data is generated before the clock (`prepare`) and read on it.
"""

from __future__ import annotations

import functools
from typing import Any

from podium.datasets.tiny import SPEECH
from podium.models import MODELS
from podium.workloads import WORKLOADS
from podium.core.vocabulary import Direction
from podium.workloads.base import (CadenceUnit, EvalCadence, Hyperparameter, MLPerfIdentity, QualityTarget, Recipe,
                                   Rule, Workload)
from podium.workloads.torch_program import TorchProgram

NAME = "tiny-speech"
MODEL = "tiny-rnnt"
TARGET_WORD_ACCURACY = 90.0
BATCH = 16
EVAL_EVERY_SAMPLES = 400
# No evaluation before: an untrained transducer emits 30 symbols a frame, the costliest greedy decoding, and no run
# seen scored above 10 % before 1600 utterances.
FIRST_EVAL_SAMPLES = 1600
BUDGET_SAMPLES = 12000
TRAIN_UTTERANCES, EVAL_UTTERANCES = 256, 64
EVAL_BATCH = 32
GRADIENT_CLIP = 1.0  # the gradients' global norm is clipped to it before each step (LSTMs spike early)


def _positive(v: Any, _: Any) -> bool:
    return isinstance(v, (int, float)) and v > 0


def generate_splits() -> None:
    """Write the train and eval utterances into the cache if they are not there (untimed)."""
    for split in ("train", "eval"):
        SPEECH.split(split)


Utterances = tuple[list[Any], list[str]]


def read_utterances(folder: Any) -> Utterances:
    """(waveforms float32, transcripts) of every utterance of a manifest-layout folder, through `librispeech`."""
    from podium.datasets import DATASETS

    dataset = DATASETS.get("librispeech")(folder)
    indices = list(range(dataset.total_sample_count))
    dataset.load_samples(indices)
    return list(dataset.get_samples(indices)), [str(t) for t in dataset.labels()]


def load_splits() -> tuple[Utterances, Utterances]:
    return read_utterances(SPEECH.split("train")), read_utterances(SPEECH.split("eval"))


class SpeechProgram(TorchProgram):
    """Program for `Workload`s whose `datasets()` returns (train, eval) utterances, each (waveforms, transcripts):
    batches of precomputed features and their symbol ids, the transducer loss, greedy decoding and word accuracy."""

    exports_onnx = False  # served by PyTorch alone: its task decodes step by step

    def build(self) -> None:
        super().build()
        parameters = list(self.model.parameters())
        clip = self.torch.nn.utils.clip_grad_norm_
        self.optimizer.register_step_pre_hook(lambda *_: clip(parameters, GRADIENT_CLIP) and None)

    def load_data(self) -> None:
        import numpy as np

        from podium.models.rnnt import symbol_ids

        torch = self.torch
        (train_waves, train_text), (eval_waves, eval_text) = self.workload.datasets() if self.workload.datasets \
            else (([], []), ([], []))
        self.rng = np.random.default_rng([self.spec.seed, self.spec.rank])
        featurizer = self.model.audio_preprocessor
        with torch.no_grad():
            self.features = [featurizer(torch.as_tensor(w, device=self.device)[None],
                                        torch.tensor([len(w)], device=self.device))[0][0].T for w in train_waves]
        self.targets = [torch.tensor(symbol_ids(t), dtype=torch.int64) for t in train_text]
        self.eval_waves = [torch.as_tensor(w, device=self.device) for w in eval_waves]
        self.eval_text = eval_text

    def _warm_up(self, shape: tuple[int, ...]) -> None:
        """Off the clock, as the base does, but through the transducer loss (the parts training runs)."""
        import copy

        torch = self.torch
        initial = copy.deepcopy(self.model.state_dict())
        frames = 8
        batch = (torch.zeros(frames, 2, self.model.encoder.pre_rnn.lstm.input_size, device=self.device),
                 torch.tensor([frames, frames]), torch.zeros(2, 2, dtype=torch.int64), torch.tensor([2, 1]))
        with self.autocast():
            self._loss(batch).backward()
        self.model.load_state_dict(initial)
        self.optimizer.zero_grad(set_to_none=True)

    def _batch(self) -> tuple[Any, Any, Any, Any]:
        """(features (T, B, F) padded, frames (B,), targets (B, U) padded, target lengths (B,))."""
        torch = self.torch
        pad = torch.nn.utils.rnn.pad_sequence
        picks = self.rng.choice(len(self.features), size=self.spec.per_rank_batch_size,
                                replace=len(self.features) < self.spec.per_rank_batch_size)
        features = [self.features[int(i)] for i in picks]
        targets = [self.targets[int(i)] for i in picks]
        return (pad(features), torch.tensor([len(f) for f in features]),
                pad(targets, batch_first=True).to(self.device), torch.tensor([len(t) for t in targets]))

    def _loss(self, batch: tuple[Any, Any, Any, Any]) -> Any:
        from podium.models.rnnt import transducer_loss

        torch = self.torch
        features, frames, targets, lengths = batch
        module = self.model  # the parts are driven one by one (no DataParallel wrapping of a part)
        encoded, encoded_frames = module.encoder(features, frames.to(self.device))
        start = torch.full((targets.shape[0], 1), -1, dtype=torch.int64, device=self.device)
        predicted, _ = module.prediction(torch.cat([start, targets], dim=1))  # (B, U + 1, H)
        steps, prefixes = encoded.shape[1], predicted.shape[1]
        logits = module.joint(encoded[:, :, None].expand(-1, -1, prefixes, -1),
                              predicted[:, None].expand(-1, steps, -1, -1))
        blank = logits.shape[-1] - 1
        return transducer_loss(logits, targets, encoded_frames, lengths, blank).mean()

    def evaluate(self) -> float:
        """Word accuracy (%) of the greedy transcripts of the eval utterances, as the inference benchmark scores."""
        import numpy as np

        from podium.metrics import METRICS
        from podium.models.rnnt import greedy_decode

        torch = self.torch
        self.model.eval()
        metric = METRICS.get("word_accuracy")
        with torch.no_grad(), self.autocast():
            for start in range(0, len(self.eval_waves), EVAL_BATCH):
                encoded, frames = self.model.encode(self.eval_waves[start:start + EVAL_BATCH])
                decoded = greedy_decode(self.model, encoded.float(), frames)
                metric.update([np.asarray(d, dtype=np.int64) for d in decoded],
                              self.eval_text[start:start + EVAL_BATCH])
        self.model.train()
        return float(metric.compute().value)



@WORKLOADS.register(NAME)
def tiny_speech() -> Workload:
    model = MODELS.get(MODEL)
    return Workload(
        name=NAME,
        summary=f"generated LibriSpeech-layout tone audio, tiny RNN-T, Adam; word accuracy >= {TARGET_WORD_ACCURACY}%",
        identity=MLPerfIdentity(benchmark=NAME, ruleset="6.1.0", own_rules=True),
        quality=QualityTarget(metric="word_accuracy", target=TARGET_WORD_ACCURACY, direction=Direction.HIGHER),
        cadence=EvalCadence(CadenceUnit.SAMPLES, every=EVAL_EVERY_SAMPLES, first=FIRST_EVAL_SAMPLES),
        budget=BUDGET_SAMPLES,
        recipe=Recipe(optimizer="adam", per_rank_batch_size=BATCH, hyperparameters=(
            Hyperparameter("opt_base_learning_rate", 0.006, tunable=True,
                           rule=Rule("podium tiny-speech rules: opt_base_learning_rate > 0", _positive)),
            Hyperparameter("opt_learning_rate_warmup_steps", 0, tunable=True),
        )),
        train_samples=TRAIN_UTTERANCES,
        eval_samples=EVAL_UTTERANCES,
        program=functools.partial(SpeechProgram, model=model),
        datasets=load_splits,
        model=model.build,
        input_shape=(BATCH,),  # unused by this program's own warm-up; set so that the harness warms up
        prepare=generate_splits,
        runs=3,
    )
