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

    COARSE = 4  # the elastic field is drawn on a 4x4 grid and upsampled, so it stays smooth

    def __init__(self, strength: float = 1.0):
        if not 0 < float(strength) <= MAX_STRENGTH:
            raise ValueError(f"digit_augment strength must be in (0, {MAX_STRENGTH}], got {strength!r}")
        self.strength = float(strength)
        self._tables: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def _base(self, box: int) -> tuple[np.ndarray, np.ndarray]:
        """Pixel centres in normalized coordinates, (box*box, 3) with a ones column, and the
        (box, COARSE) bicubic upsampling matrix. Plain matmuls are ~10x faster here than
        F.affine_grid + F.interpolate on small batches of patches."""
        if box not in self._tables:
            c = (np.arange(box) * 2 + 1) / box - 1
            yy, xx = np.meshgrid(c, c, indexing="ij")
            base = np.stack([xx.ravel(), yy.ravel(), np.ones(box * box)], axis=1).astype(np.float32)
            eye = torch.eye(self.COARSE).reshape(self.COARSE, 1, self.COARSE, 1)
            up = F.interpolate(eye, size=(box, 1), mode="bicubic", align_corners=True)[:, 0, :, 0].T.numpy()
            self._tables[box] = base, np.ascontiguousarray(up, np.float32)
        return self._tables[box]

    def __call__(self, patches: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        m, box = len(patches), patches.shape[-1]
        if m == 0:
            return patches
        s, k = self.strength, self.COARSE
        angle = np.deg2rad(rng.uniform(-10 * s, 10 * s, m))
        shear = rng.uniform(-0.2 * s, 0.2 * s, m)
        zoom = 1 + rng.uniform(-0.1 * s, 0.05 * s, (m, 2))  # per axis: also varies the aspect ratio
        shift = rng.uniform(-0.05, 0.05, (m, 2))  # normalized units, about +-0.7 px
        coarse = rng.normal(0, 0.06 * s, (m, 2, k, k)).astype(np.float32)
        cos, sin = np.cos(angle), np.sin(angle)
        # theta maps output to input coordinates: rotation @ shear, divided by zoom.
        theta = np.empty((m, 2, 3), np.float32)
        theta[:, 0, 0], theta[:, 0, 1] = cos / zoom[:, 0], (cos * shear - sin) / zoom[:, 0]
        theta[:, 1, 0], theta[:, 1, 1] = sin / zoom[:, 1], (sin * shear + cos) / zoom[:, 1]
        theta[:, :, 2] = shift
        base, up = self._base(box)
        grid = np.einsum("pk,mjk->mpj", base, theta, optimize=True).reshape(m, box, box, 2)
        field = up @ coarse @ up.T  # (m, 2, box, box)
        grid += field.transpose(0, 2, 3, 1)
        src = torch.from_numpy(np.ascontiguousarray(patches, np.float32)).unsqueeze(1)
        out = F.grid_sample(src, torch.from_numpy(grid), mode="bilinear", padding_mode="zeros", align_corners=False)
        # Bilinear weights are convex and the padding is 0, so values stay in [0, 255]: no clipping needed.
        return np.rint(out.squeeze(1).numpy()).astype(np.uint8)


class PaperAugment:
    """Training strips as if written on paper, photographed and read back by the predict pipeline.

    A fraction ``p = min(1, P_PER_STRENGTH * strength)`` of the strips of a batch is upscaled (x1 to x3),
    its strokes thickened or thinned (dilation / erosion), padded with a paper margin, rendered by
    :func:`seqrec.data.paper.photograph` (texture, lighting ramp, soft shadow, blur, noise, JPEG)
    and run back through :func:`seqrec.imaging.prepare` at the training size -- exactly what
    ``Recognizer.predict`` does to a photo -- so training sees what prediction sees. Labels stay
    valid: prepare only re-centres and re-scales the ink. A strip whose ink the pipeline loses is
    kept clean rather than trained on as a blank. Reseeded per call from ``seed``, like
    :func:`apply_augment`.
    """

    MAX_UPSCALE = 3.0
    # One augmented strip costs ~3-5 ms of one core (prepare ~1.3 ms even for a small image), against
    # ~0.3 ms for a plain one: p = 0.15 at strength 1 keeps a worker near 1,000 strips/s.
    P_PER_STRENGTH = 0.15

    def __init__(self, strength: float = 1.0, height: int = 28, width: int = 140):
        s = float(strength)
        if not 0 < s <= MAX_STRENGTH:
            raise ValueError(f"paper_augment strength must be in (0, {MAX_STRENGTH}], got {strength!r}")
        self.strength, self.height, self.width = s, int(height), int(width)
        self.p = min(1.0, self.P_PER_STRENGTH * s)

    def one(self, strip: np.ndarray, rng: np.random.Generator) -> np.ndarray | None:
        """One (H, W) uint8 white-on-black strip -> the strip the pipeline makes of its photo, or
        None when the pipeline finds no ink in it."""
        from ..imaging import prepare
        from .paper import photograph

        up = self.MAX_UPSCALE ** rng.random()  # log-uniform: small sizes, cheap to clean, are as likely as big
        ink = cv2.resize(strip, None, fx=up, fy=up, interpolation=cv2.INTER_LINEAR)
        r = rng.random()
        if r < 0.5:  # pens: thicker or thinner than MNIST's ~2.5 px at 28 px
            k = int(rng.integers(2, max(2, round(1.5 * up)) + 1))
            kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
            ink = (cv2.erode if r < 0.2 and up >= 2 else cv2.dilate)(ink, kernel)
        pad = rng.integers(0, int(0.25 * ink.shape[0]) + 2, 4)  # paper around the strip's own margin
        ink = cv2.copyMakeBorder(ink, int(pad[0]), int(pad[1]), int(pad[2]), int(pad[3]), cv2.BORDER_CONSTANT, value=0)
        photo = photograph(ink.astype(np.float32) * np.float32(1 / 255), rng, strength=min(1.0, self.strength))
        prepared = prepare(photo, 255.0, height=self.height, width=self.width, fixed_width=True)
        if not prepared.has_ink or prepared.strip.shape != strip.shape:
            return None
        return np.rint(prepared.strip * 255).astype(np.uint8)

    def __call__(self, images: np.ndarray, seed) -> np.ndarray:
        """Augment a batch (n, H, W) uint8 (not modified); the same ``seed`` gives the same batch."""
        if len(images) == 0:
            return images
        if images.shape[1:] != (self.height, self.width):
            raise ValueError(f"paper augment expects strips of {self.height}x{self.width}, got {images.shape[1:]}")
        rng = np.random.default_rng(seed)
        chosen = np.flatnonzero(rng.random(len(images)) < self.p)
        if len(chosen) == 0:
            return images
        out = images.copy()
        for i in chosen:
            strip = self.one(images[i], rng)
            if strip is not None:
                out[i] = strip
        return out
