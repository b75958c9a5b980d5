"""Handwriting-friendly augmentation (albumentations), reseedable per batch, worker and rank."""
from __future__ import annotations

import albumentations as A
import cv2
import numpy as np
import torch
import torch.nn.functional as F

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


class DigitWarp:
    """Independent random affine + smooth elastic warp of each digit before it is pasted.

    Strip-level transforms move all digits of a strip together; warping each digit on its
    own multiplies the few thousand bundled digits into many more shapes, which is what
    closes the gap between train and held-out accuracy. Randomness comes from the
    composer's numpy ``rng``, so a strip seed still fixes every pixel.
    """

    def __init__(self, strength: float = 1.0):
        if not 0 < float(strength) <= MAX_STRENGTH:
            raise ValueError(f"digit_augment strength must be in (0, {MAX_STRENGTH}], got {strength!r}")
        self.strength = float(strength)

    def __call__(self, patches: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        m, box = len(patches), patches.shape[-1]
        if m == 0:
            return patches
        s = self.strength
        angle = np.deg2rad(rng.uniform(-10 * s, 10 * s, m))
        shear = rng.uniform(-0.2 * s, 0.2 * s, m)
        zoom = 1 + rng.uniform(-0.1 * s, 0.05 * s, (m, 2))  # per axis: also varies the aspect ratio
        shift = rng.uniform(-0.05, 0.05, (m, 2))  # normalized units, about +-0.7 px
        cos, sin = np.cos(angle), np.sin(angle)
        # theta maps output to input coordinates: rotation @ shear, divided by zoom.
        theta = np.empty((m, 2, 3), np.float32)
        theta[:, 0, 0], theta[:, 0, 1] = cos / zoom[:, 0], (cos * shear - sin) / zoom[:, 0]
        theta[:, 1, 0], theta[:, 1, 1] = sin / zoom[:, 1], (sin * shear + cos) / zoom[:, 1]
        theta[:, :, 2] = shift
        grid = F.affine_grid(torch.from_numpy(theta), (m, 1, box, box), align_corners=False)
        # Elastic part: a coarse random displacement field, upsampled so it stays smooth.
        coarse = torch.from_numpy(rng.normal(0, 0.06 * s, (m, 2, 4, 4)).astype(np.float32))
        grid = grid + F.interpolate(coarse, size=(box, box), mode="bicubic", align_corners=True).permute(0, 2, 3, 1)
        src = torch.from_numpy(np.ascontiguousarray(patches, np.float32)).unsqueeze(1)
        out = F.grid_sample(src, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        return out.squeeze(1).round_().clamp_(0, 255).to(torch.uint8).numpy()
