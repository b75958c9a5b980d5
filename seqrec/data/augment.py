"""Handwriting-friendly augmentation (albumentations), reseedable per batch, worker and rank."""
from __future__ import annotations

import albumentations as A
import cv2
import numpy as np

MAX_STRENGTH = 3.0


def default_augment(strength: float = 1.0) -> A.Compose:
    """Affine, light grid distortion, stroke-width morphology, coarse dropout and noise.

    Probabilities are kept moderate: each transform costs ~10-200 us per strip, and a
    strip that is never clean teaches the model a different distribution from the test.
    """
    s = float(strength)
    if not 0 <= s <= MAX_STRENGTH:
        raise ValueError(f"augment strength must be between 0 (off) and {MAX_STRENGTH}, got {strength!r}")
    if s == 0:
        return A.Compose([])
    return A.Compose(
        [
            A.Affine(
                scale=(1 - 0.08 * s, 1 + 0.05 * s),
                rotate=(-3 * s, 3 * s),
                shear={"x": (-10 * s, 10 * s), "y": (0, 0)},
                translate_px={"x": (-3, 3), "y": (-1, 1)},
                border_mode=cv2.BORDER_CONSTANT,
                fill=0,
                p=0.5,
            ),
            A.GridDistortion(num_steps=5, distort_limit=(-0.15 * s, 0.15 * s), border_mode=cv2.BORDER_CONSTANT, p=0.15),
            A.Morphological(scale=(1, 2), operation="dilation", p=0.15),
            A.Morphological(scale=(1, 2), operation="erosion", p=0.1),
            A.CoarseDropout(num_holes_range=(1, 3), hole_height_range=(2, 4), hole_width_range=(2, 4), fill=0, p=0.15),
            A.GaussNoise(std_range=(0.02 * min(s, 1.0), 0.06 * s), p=0.15),
        ]
    )


def apply_augment(transform: A.Compose | None, images: np.ndarray, seed) -> np.ndarray:
    """Augment a batch (n, H, W) uint8. Reseeding from ``seed`` (derived from the batch key)
    makes results independent of which worker or rank runs the batch."""
    if transform is None or len(transform.transforms) == 0 or len(images) == 0:
        return images
    transform.set_random_seed(int(np.random.SeedSequence(seed).generate_state(1)[0]))
    return np.stack([transform(image=img)["image"] for img in images])
