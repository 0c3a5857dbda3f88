"""Render the example spec's images from scikit-learn's bundled handwritten digits.

Run `python specs/make_digits.py` to regenerate specs/digits/<tag>/*.png (deterministic).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.datasets import load_digits

TAGS = {0: "zero", 1: "one", 7: "seven"}
PER_TAG = 8
SIZE = 128


def render(pixels: np.ndarray) -> Image.Image:
    """An 8x8 digit (0..16) as dark ink on white paper, smoothly upscaled."""
    gray = (255 - pixels * 255 / 16).astype(np.uint8)
    return Image.fromarray(gray, mode="L").resize((SIZE, SIZE), Image.Resampling.BICUBIC)


def main(out: Path = Path(__file__).parent / "digits") -> None:
    digits = load_digits()
    for digit, tag in TAGS.items():
        folder = out / tag
        folder.mkdir(parents=True, exist_ok=True)
        picks = np.flatnonzero(digits.target == digit)[:PER_TAG]
        for n, index in enumerate(picks):
            render(digits.images[index]).save(folder / f"{tag}-{n:02d}.png", optimize=True)


if __name__ == "__main__":
    main()
