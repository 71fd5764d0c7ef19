"""Synthetic images: a CIFAR-shaped classification task generated procedurally (numpy, no
download), the stand-in for CIFAR-10 in tests and examples. It is not CIFAR-10 and says
nothing about accuracy on natural images; it has CIFAR-10's shapes (32 x 32 x 3, channels
last, values in [0, 1], 10 classes) so a model built for one runs on the other.

Each image is a Gabor patch (a sinusoidal grating under a Gaussian window), the stimulus of
psychophysics and of the receptive fields of simple cells in visual cortex (Daugman, 1985,
J. Opt. Soc. Am. A 2:1160). The class sets the grating's orientation (class c at c / classes
of a half turn) and its spatial frequency (even classes 3, odd classes 5 cycles over the
image's shorter side); everything else is drawn per image: phase, a jitter of orientation and
frequency, the window's position and size, the contrast, the background and the color of the
grating (a random per-channel gain and sign), and Gaussian pixel noise. Every pixel's value is
symmetric about the background whatever the class (the phase is uniform), so no single pixel
tells the classes apart; the class is in the spatial structure, which a small convolutional
network learns on a CPU in seconds.
"""

from __future__ import annotations

import numpy as np

from device_models._checks import ParameterError, check_int_range

from .data import Dataset


def gabor_images(
    n: int, *, classes: int, image: tuple[int, int, int], seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """`n` images (n, height, width, channels) float32 in [0, 1] and their labels (n,) int32,
    classes balanced up to one image and shuffled."""
    rng = np.random.default_rng(seed)
    height, width, channels = image
    size = min(height, width)
    labels = rng.permutation(np.arange(n) % classes).astype(np.int32)
    # per image: the class's grating, jittered; radians, cycles per pixel, pixels
    theta = np.pi * labels / classes + rng.uniform(-0.25, 0.25, n) * np.pi / classes
    freq = np.where(labels % 2 == 0, 3.0, 5.0) * rng.uniform(0.92, 1.08, n) / size
    phase = rng.uniform(0.0, 2.0 * np.pi, n)
    centre = np.array([height, width]) / 2.0 + rng.uniform(-0.2, 0.2, (n, 2)) * size
    sigma = rng.uniform(0.18, 0.32, n) * size
    contrast = rng.uniform(0.15, 0.35, n)
    background = rng.uniform(0.3, 0.7, (n, channels))
    gain = rng.uniform(0.3, 1.0, (n, channels)) * rng.choice([-1.0, 1.0], (n, channels))

    y, x = np.meshgrid(np.arange(height) + 0.5, np.arange(width) + 0.5, indexing="ij")
    dy = y[None] - centre[:, 0, None, None]
    dx = x[None] - centre[:, 1, None, None]
    along = dx * np.cos(theta)[:, None, None] + dy * np.sin(theta)[:, None, None]
    grating = np.sin(2.0 * np.pi * freq[:, None, None] * along + phase[:, None, None])
    window = np.exp(-(dx**2 + dy**2) / (2.0 * sigma[:, None, None] ** 2))
    patch = (contrast[:, None, None] * window * grating)[..., None]  # (n, h, w, 1)
    pixels = background[:, None, None, :] + gain[:, None, None, :] * patch
    pixels += rng.normal(0.0, 0.08, pixels.shape)
    return np.clip(pixels, 0.0, 1.0).astype(np.float32), labels


def synthetic_images(
    *,
    train: int = 2000,
    test: int = 500,
    classes: int = 10,
    image: tuple[int, int, int] = (32, 32, 3),
    seed: int = 0,
) -> Dataset:
    """The Gabor-patch task as a `Dataset`: `x` images (examples, height, width, channels)
    float32 in [0, 1], channels last as CIFAR-10's; `y` the class 0..classes-1, int32.
    Training and test images come from different seeds (`2 * seed` and `2 * seed + 1`), so
    the test set is held out. Chance accuracy is 1 / classes.

    Raises:
        ParameterError: a count out of range, or an image shape that is not (height, width,
            channels) with sides of at least 12 pixels (5 cycles at 2.4 pixels a cycle, above
            the 2 of the sampling limit).
    """
    check_int_range("train", train, 1, 1 << 24)
    check_int_range("test", test, 1, 1 << 24)
    check_int_range("classes", classes, 2, 1024)
    image = tuple(image) if isinstance(image, list | tuple) else image
    if not isinstance(image, tuple) or len(image) != 3:
        raise ParameterError(f"image must be (height, width, channels); got {image!r}")
    check_int_range("image height", image[0], 12, 4096)
    check_int_range("image width", image[1], 12, 4096)
    check_int_range("image channels", image[2], 1, 64)
    x_tr, y_tr = gabor_images(train, classes=classes, image=image, seed=2 * seed)
    x_te, y_te = gabor_images(test, classes=classes, image=image, seed=2 * seed + 1)
    return Dataset("synthetic-images", x_tr, y_tr, x_te, y_te)
