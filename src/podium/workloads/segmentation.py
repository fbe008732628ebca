"""The 3D segmentation training program: random patches of KiTS-layout volumes, Dice + cross-entropy, mean DICE eval.

Used by `tiny-segmentation`. As MLPerf's U-Net3D reference trains, each step takes random patches of the training
volumes, a share of them (`oversampling`) centred on a tumour voxel (tumours are a few dozen voxels of tens of
thousands), and minimizes the soft Dice loss of the foreground classes plus cross-entropy. The evaluation
runs the network on each whole eval volume (it is fully convolutional) and scores the argmax with the `dice`
metric of `podium.metrics`, the one an inference accuracy run is scored by: the mean composite DICE, a fraction.
"""

from __future__ import annotations

from typing import Any

from podium.metrics import METRICS
from podium.workloads.torch_program import TorchProgram

FOREGROUND = (1, 2)  # kidney, tumour: the classes the Dice loss and the metric score
RAREST = 2  # tumour: the class oversampled patches are centred on
SMOOTH = 1.0  # of the soft Dice loss


class SegmentationProgram(TorchProgram):
    """Program for `Workload`s whose `datasets()` returns (train cases, eval cases), each a list of (image float32
    (1, D, H, W), label uint8 (D, H, W)) pairs; hyperparameters `patch_voxels`, `oversampling` and
    `loss_class_weights` besides the optimizer's."""

    def load_data(self) -> None:
        import numpy as np

        train, evaluation = self.workload.datasets() if self.workload.datasets else ([], [])
        self.train_cases, self.eval_cases = list(train), list(evaluation)
        # Each rank draws its own patches: a generator of its own, from the run's seed.
        self.rng = np.random.default_rng([self.spec.seed, self.spec.rank])
        self.foreground = [np.argwhere(label == RAREST) for _, label in self.train_cases]
        self.class_weights = self.torch.tensor(self.hp["loss_class_weights"], dtype=self.torch.float32,
                                               device=self.device)

    def _batch(self) -> tuple[Any, Any]:
        """`per_rank_batch_size` patches of `patch_voxels` a side: images (B, 1, p, p, p), labels (B, p, p, p)."""
        import numpy as np

        images, labels = [], []
        for _ in range(self.spec.per_rank_batch_size):
            case = int(self.rng.integers(len(self.train_cases)))
            image, label = self.train_cases[case]
            window = self._window(case, np.asarray(label.shape))
            images.append(image[(slice(None), *window)])
            labels.append(label[window])
        as_tensor = self.torch.as_tensor
        return (as_tensor(np.stack(images), device=self.device),
                as_tensor(np.stack(labels).astype(np.int64), device=self.device))

    def _window(self, case: int, shape: Any) -> tuple[slice, ...]:
        """A random patch of the case, centred on a tumour voxel `oversampling` of the time (kept inside)."""
        import numpy as np

        size = int(self.hp["patch_voxels"])
        foreground = self.foreground[case]
        if len(foreground) and self.rng.random() < self.hp["oversampling"]:
            centre = foreground[int(self.rng.integers(len(foreground)))]
            low = np.clip(centre - size // 2, 0, shape - size)
        else:
            low = np.array([self.rng.integers(0, n - size + 1) for n in shape])
        return tuple(slice(int(a), int(a) + size) for a in low)

    def _loss(self, batch: tuple[Any, Any]) -> Any:
        """Cross-entropy (class-weighted) plus the soft Dice loss of the foreground classes."""
        images, labels = batch
        functional = self.torch.nn.functional
        logits = self.train_model(images).float()
        cross_entropy = functional.cross_entropy(logits, labels, weight=self.class_weights)
        probabilities = logits.softmax(dim=1)
        one_hot = functional.one_hot(labels, logits.shape[1]).movedim(-1, 1).float()
        axes = (0, *range(2, logits.dim()))
        overlap = (probabilities * one_hot).sum(dim=axes)
        total = probabilities.sum(dim=axes) + one_hot.sum(dim=axes)
        dice = (2 * overlap + SMOOTH) / (total + SMOOTH)
        return cross_entropy + 1 - dice[list(FOREGROUND)].mean()

    def evaluate(self) -> float:
        """Mean composite DICE (kidney, tumour) over the eval volumes, each run whole, as a fraction."""
        import numpy as np

        torch = self.torch
        self.model.eval()
        dice = METRICS.get("dice")
        with torch.no_grad(), self.autocast():
            for image, label in self.eval_cases:
                logits = self.model(torch.as_tensor(image[np.newaxis], device=self.device))
                dice.update([logits[0].argmax(dim=0).to(torch.uint8).cpu().numpy()], [label])
        return float(dice.compute().value)
