"""The 3D U-Net reference's training augmentation of a (image, label) volume pair, as numpy functions.

What data_loading/pytorch_loader.py of MLPerf Training's 3D U-Net (mlcommons/training, image_segmentation/pytorch,
later retired_benchmarks/unet3d/pytorch) does to each training case, in its order (`PytTrain.__getitem__`):

1. `RandBalancedCrop(patch_size, oversampling)` (`balanced_crop`): with probability `oversampling` a crop around a
   foreground object (a class drawn among those present, one of its two largest connected components by bounding
   box, the box grown or shrunk at random to the patch), otherwise a uniformly placed crop;
2. `RandFlip` (`random_flip`): each spatial axis flipped with probability 1/3;
3. `Cast`: image float32, label uint8;
4. `RandomBrightnessAugmentation(factor=0.3, prob=0.1)` (`random_brightness`): with probability 0.1, the image
   multiplied by 1 + f, f uniform in [0.7, 1.3] (the reference multiplies by `1 + factor`, not by `factor`:
   kept as it is);
5. `GaussianNoise(mean=0, std=0.1, prob=0.1)` (`gaussian_noise`): with probability 0.1, noise of a standard
   deviation drawn uniformly in [0, 0.1] added to the image.

As the reference, the draws use `random` and numpy's global generator; a `podium.workloads.feed.Feed` worker seeds
both from the feed's seed. Arrays are (1, D, H, W). numpy and scipy are imported where they are used.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

FLIP_PROBABILITY = 1 / 3          # RandFlip: 1 / len(axes)
BRIGHTNESS_FACTOR, BRIGHTNESS_PROBABILITY = 0.3, 0.1
NOISE_STD, NOISE_PROBABILITY = 0.1, 0.1
LARGEST_OBJECTS = 2               # rand_foreg_cropd crops around one of the two largest components


def augment(image: Any, label: Any, patch: Sequence[int], oversampling: float) -> tuple[Any, Any]:
    """The reference's whole training transform of one case: crop, flip, cast, brightness, noise."""
    import numpy as np

    image, label = balanced_crop(image, label, patch, oversampling)
    image, label = random_flip(image, label)
    image, label = image.astype(np.float32), label.astype(np.uint8)
    return gaussian_noise(random_brightness(image)), label


def _randrange(n: int) -> int:
    """`random.randrange(n)`, 0 for n == 0 (RandBalancedCrop.randrange)."""
    return 0 if n <= 0 else random.randrange(n)


def balanced_crop(image: Any, label: Any, patch: Sequence[int], oversampling: float) -> tuple[Any, Any]:
    """A `patch`-sized crop: around a foreground object with probability `oversampling`, else anywhere."""
    if random.random() < oversampling:
        window = _foreground_window(label, patch)
        if window is not None:
            return image[window], label[window]
    window = _random_window(image.shape[1:], patch)
    return image[window], label[window]


def _random_window(shape: Sequence[int], patch: Sequence[int]) -> tuple[slice, ...]:
    """Offsets drawn in [0, edge - patch) per axis, as `_rand_crop` draws them (randrange excludes the last)."""
    low = [_randrange(n - p) for n, p in zip(shape, patch)]
    return (slice(None), *(slice(a, a + p) for a, p in zip(low, patch)))


def _foreground_window(label: Any, patch: Sequence[int]) -> tuple[slice, ...] | None:
    """`rand_foreg_cropd`'s window: None when the label has no foreground (the reference falls back to a random
    crop when no component is found)."""
    import numpy as np
    from scipy import ndimage  # type: ignore[import-untyped]

    classes = np.unique(label[label > 0])
    if classes.size == 0:
        return None
    chosen = np.random.choice(classes)
    boxes = [b for b in ndimage.find_objects(ndimage.label(label == chosen)[0]) if b is not None]
    if not boxes:
        return None
    volumes = [np.prod([s.stop - s.start for s in box]) for box in boxes]
    largest = [boxes[i] for i in np.argsort(volumes)[-LARGEST_OBJECTS:]]
    box = largest[random.randrange(len(largest))]
    return (slice(None), *(_fit(box[axis], patch[axis - 1], label.shape[axis]) for axis in (1, 2, 3)))


def _fit(extent: slice, size: int, edge: int) -> slice:
    """The object's extent on one axis grown (or shrunk) at random to `size`, kept inside [0, edge) (`adjust`)."""
    diff = size - (extent.stop - extent.start)
    sign = -1 if diff < 0 else 1
    diff = abs(diff)
    below = _randrange(diff)
    low = max(0, extent.start - sign * below)
    high = min(edge, extent.stop + sign * (diff - below))
    short = size - (high - low)
    if short > 0 and low == 0:
        high += short
    elif short > 0:
        low -= short
    return slice(low, high)


def random_flip(image: Any, label: Any) -> tuple[Any, Any]:
    """Each spatial axis (1, 2, 3) flipped, in image and label alike, with probability 1/3."""
    import numpy as np

    for axis in (1, 2, 3):
        if random.random() < FLIP_PROBABILITY:
            image, label = np.flip(image, axis=axis).copy(), np.flip(label, axis=axis).copy()
    return image, label


def random_brightness(image: Any) -> Any:
    """With probability 0.1, `image * (1 + f)`, f uniform in [1 - 0.3, 1 + 0.3], in the image's dtype."""
    import numpy as np

    if random.random() < BRIGHTNESS_PROBABILITY:
        factor = np.random.uniform(low=1.0 - BRIGHTNESS_FACTOR, high=1.0 + BRIGHTNESS_FACTOR, size=1)
        image = (image * (1 + factor)).astype(image.dtype)
    return image


def gaussian_noise(image: Any) -> Any:
    """With probability 0.1, Gaussian noise of mean 0 and a standard deviation uniform in [0, 0.1] added."""
    import numpy as np

    if random.random() < NOISE_PROBABILITY:
        scale = np.random.uniform(low=0.0, high=NOISE_STD)
        image = image + np.random.normal(loc=0.0, scale=scale, size=image.shape).astype(image.dtype)
    return image
