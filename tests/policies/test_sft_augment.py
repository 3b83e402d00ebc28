"""SFT image augmentation: the random shift is deterministic under a seed and really moves the image."""

from __future__ import annotations

import numpy as np

from robot_rl.algorithms.sft import shift_images


def _images(b: int = 6, h: int = 16, w: int = 16) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {"agentview": rng.integers(0, 256, (b, h, w, 3), dtype=np.uint8),
            "wrist": rng.integers(0, 256, (b, h, w, 3), dtype=np.uint8)}


def test_shift_is_deterministic_under_a_seed_and_keeps_shapes():
    images = _images()
    a = shift_images(images, 3, np.random.default_rng(5))
    b = shift_images(images, 3, np.random.default_rng(5))
    for cam in images:
        assert a[cam].shape == images[cam].shape and a[cam].dtype == np.uint8
        np.testing.assert_array_equal(a[cam], b[cam])


def test_shift_translates_each_sample_by_at_most_pad_pixels():
    images = _images(b=32)
    pad = 2
    out = shift_images(images, pad, np.random.default_rng(1))
    moved = 0
    for cam, img in images.items():
        for i in range(len(img)):
            # The shifted image's interior is the original translated by some (dy, dx) in [-pad, pad].
            matches = [(dy, dx) for dy in range(-pad, pad + 1) for dx in range(-pad, pad + 1)
                       if np.array_equal(out[cam][i, pad:-pad, pad:-pad],
                                         img[i, pad + dy:img.shape[1] - pad + dy, pad + dx:img.shape[2] - pad + dx])]
            assert matches, (cam, i)
            moved += matches[0] != (0, 0)
    assert moved > 40  # of 64 samples, (0, 0) has probability 1/25 each


def test_pad_zero_is_the_identity():
    images = _images()
    assert shift_images(images, 0, np.random.default_rng(0)) is images
