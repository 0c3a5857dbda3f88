"""Image feature extraction for the emulator's classifier.

Owns turning image bytes (JPEG/PNG/BMP/GIF, decoded with Pillow) into a fixed-length float32
vector that a linear classifier can separate: colour histograms (joint HSV and saturation-weighted
hue), a coarse spatial colour layout and colour moments, gradient-orientation histograms
(HOG-like, at three grid scales), contrast-normalised edge statistics and local binary pattern
texture histograms. Spatial parts are averaged with their left-right mirror, so a photo and its
mirror image have the same features. No learned weights are involved, so features are
deterministic and cheap (about 4 ms of CPU for a 50 KB JPEG).
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageOps

FEATURE_VERSION = "cvspec-features-6"

SIZE = 128  # images are decoded (with JPEG draft mode) and resized to SIZE x SIZE
_HUE_BINS = 12
_SAT_EDGES = np.array([0.2, 0.55], dtype=np.float32)
_VAL_EDGES = np.array([0.33, 0.7], dtype=np.float32)
_WHUE_BINS = 24
_ORIENT_BINS = 8  # per pi radians; bins are centred on multiples of pi / 8
_EPS = 1e-6

# Consecutive groups of the feature vector, in order. The classifier gives each group the same
# total weight after standardisation, so a large group (e.g. the 4x4 HOG) cannot drown a small,
# informative one (e.g. edge statistics).
FEATURE_GROUPS: tuple[tuple[str, int], ...] = (
    ("hsv_joint_histogram", _HUE_BINS * 9),
    ("weighted_hue_histogram", _WHUE_BINS),
    ("colour_layout_4x4", 16 * 4),
    ("colour_moments", 10),
    ("hog_global_signed", 2 * _ORIENT_BINS),
    ("hog_2x2", 4 * _ORIENT_BINS),
    ("hog_4x4", 16 * _ORIENT_BINS),
    ("edge_statistics", 6),
    ("lbp_two_scales", 20),
)
FEATURE_LENGTH = sum(size for _, size in FEATURE_GROUPS)


def load_image(data: bytes, size: int = SIZE) -> Image.Image:
    """Decode image bytes (first frame, EXIF-oriented) into a size x size RGB Pillow image."""
    with Image.open(io.BytesIO(data)) as opened:
        opened.draft("RGB", (size, size))  # JPEG: decode at a reduced scale (much faster)
        im: Image.Image = _upright(opened)
        if im.mode != "RGB":
            im = _to_rgb(im)
        return im.resize((size, size), Image.Resampling.BILINEAR, reducing_gap=2.0)


def _upright(im: Image.Image) -> Image.Image:
    """Apply the EXIF orientation, as the service shows photos; ignore broken EXIF data."""
    try:
        return ImageOps.exif_transpose(im)
    except Exception:  # malformed EXIF must not make a decodable image unusable
        return im


def load_rgb(data: bytes, size: int = SIZE) -> np.ndarray:
    """Decode image bytes into a (size, size, 3) float32 RGB array with values in [0, 1]."""
    return np.asarray(load_image(data, size), dtype=np.float32) / 255.0


def _to_rgb(im: Image.Image) -> Image.Image:
    """Flatten any mode (palette, alpha, greyscale, 16-bit, CMYK) onto white as 8-bit RGB."""
    if im.mode in ("I", "F") or im.mode.startswith("I;16"):
        return _wide_grey_to_rgb(im)
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return im.convert("RGB")


def _wide_grey_to_rgb(im: Image.Image) -> Image.Image:
    """16-bit, 32-bit integer or float greyscale -> 8-bit RGB (Pillow would clip at 255)."""
    values = np.asarray(im, dtype=np.float64)
    top = float(values.max()) if values.size else 0.0
    if im.mode == "F" and top <= 1.0:
        full = 1.0
    elif top <= 255.0:
        full = 255.0
    else:
        full = 65535.0 if top <= 65535.0 else top
    grey = np.clip(values / full * 255.0, 0, 255).astype(np.uint8)
    return Image.fromarray(grey, "L").convert("RGB")


def rgb_to_hsv(rgb: np.ndarray) -> np.ndarray:
    """RGB float array in [0, 1] -> HSV float array in [0, 1] (Pillow's conversion)."""
    im = Image.fromarray(np.round(rgb * 255.0).astype(np.uint8), "RGB")
    return _hsv_of(im)


def _hsv_of(im: Image.Image) -> np.ndarray:
    return np.asarray(im.convert("HSV"), dtype=np.float32) / 255.0


def _normalised(hist: np.ndarray) -> np.ndarray:
    """Sum-normalise a histogram and take the square root (Hellinger embedding)."""
    total = float(hist.sum())
    return np.sqrt(hist / total) if total > 0 else np.zeros_like(hist)


def colour_histograms(hsv: np.ndarray) -> np.ndarray:
    """Joint HSV histogram plus a saturation-weighted hue histogram (ignores grey background)."""
    h, s, v = hsv[..., 0].ravel(), hsv[..., 1].ravel(), hsv[..., 2].ravel()
    hb = np.minimum((h * _HUE_BINS).astype(np.int64), _HUE_BINS - 1)
    sb = np.searchsorted(_SAT_EDGES, s)
    vb = np.searchsorted(_VAL_EDGES, v)
    joint = np.bincount((hb * 3 + sb) * 3 + vb, minlength=_HUE_BINS * 9).astype(np.float32)
    wb = np.minimum((h * _WHUE_BINS).astype(np.int64), _WHUE_BINS - 1)
    weighted = np.bincount(wb, weights=s * v, minlength=_WHUE_BINS).astype(np.float32)
    return np.concatenate([_normalised(joint), _normalised(weighted)])


def _grid_means(channels: np.ndarray, grid: int) -> np.ndarray:
    """Mean of each channel over a grid x grid layout of cells (channels last)."""
    hgt, wid, ch = channels.shape
    ch_, cw = hgt // grid, wid // grid
    cells = channels[: ch_ * grid, : cw * grid].reshape(grid, ch_, grid, cw, ch)
    return (cells.sum(axis=1).sum(axis=2) / (ch_ * cw)).ravel()


def colour_layout(rgb: np.ndarray, hsv: np.ndarray) -> np.ndarray:
    """Coarse spatial colour layout (4x4 grid of RGB and saturation means) and colour moments."""
    pixels = np.concatenate([rgb, hsv[..., 1:]], axis=-1)  # R, G, B, S, V
    layout = _mirror_average(_grid_means(pixels[..., :4], 4).reshape(4, 4, 4), None).ravel()
    flat = np.ascontiguousarray(pixels.reshape(-1, 5).T)
    return np.concatenate([layout, flat.mean(axis=1), flat.std(axis=1)]).astype(np.float32)


def _gradients(grey: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Central-difference gradient magnitude and signed orientation (radians in [0, 2*pi))."""
    gx = np.zeros_like(grey)
    gy = np.zeros_like(grey)
    gx[:, 1:-1] = grey[:, 2:] - grey[:, :-2]
    gy[1:-1, :] = grey[2:, :] - grey[:-2, :]
    mag = np.hypot(gx, gy)
    ang = np.arctan2(gy, gx) % (2 * np.pi)
    return mag, ang


def _cell_histograms(mag: np.ndarray, bins: np.ndarray, n_bins: int, grid: int) -> np.ndarray:
    """Magnitude-weighted orientation histogram per grid cell, L2-normalised and clipped (HOG)."""
    hgt, wid = mag.shape
    rows = np.minimum(np.arange(hgt) * grid // hgt, grid - 1)
    cols = np.minimum(np.arange(wid) * grid // wid, grid - 1)
    cell = rows[:, None] * grid + cols[None, :]
    idx = (cell * n_bins + bins).ravel()
    counts = np.bincount(idx, weights=mag.ravel(), minlength=grid * grid * n_bins)
    hist: np.ndarray = counts.astype(np.float64).reshape(grid * grid, n_bins)
    hist /= np.sqrt((hist**2).sum(axis=1, keepdims=True)) + _EPS
    hist = np.minimum(hist, 0.2)
    hist /= np.sqrt((hist**2).sum(axis=1, keepdims=True)) + _EPS
    mirrored_bins = _mirrored_orientation_bins(n_bins)
    return _mirror_average(hist.reshape(grid, grid, n_bins), mirrored_bins).ravel()


def _mirrored_orientation_bins(n_bins: int) -> np.ndarray:
    """Bin permutation for a left-right flip: angle t becomes pi - t (modulo the bin range)."""
    return (_ORIENT_BINS - np.arange(n_bins)) % n_bins


def _mirror_average(cells: np.ndarray, mirrored_bins: np.ndarray | None) -> np.ndarray:
    """Average a (rows, cols, values) grid with its left-right mirror image.

    Makes spatial features invariant to horizontal flips (an object facing left or right) at no
    extra cost; ``mirrored_bins`` permutes orientation bins as a flip does.
    """
    mirrored = cells[:, ::-1, :]
    if mirrored_bins is not None:
        mirrored = mirrored[..., mirrored_bins]
    return ((cells + mirrored) / 2.0).astype(np.float32)


def gradient_features(grey: np.ndarray) -> np.ndarray:
    """HOG-like orientation histograms: signed global, unsigned 2x2 and 4x4 grids.

    All are averaged with their left-right mirror image, so they do not change when the photo is
    flipped horizontally.
    """
    mag, ang = _gradients(grey)
    position = ang / np.pi * _ORIENT_BINS + 0.5  # bin k is centred on k * pi / _ORIENT_BINS
    signed = position.astype(np.int64) % (2 * _ORIENT_BINS)
    unsigned = signed % _ORIENT_BINS
    parts = [
        _cell_histograms(mag, signed, 2 * _ORIENT_BINS, 1),
        _cell_histograms(mag, unsigned, _ORIENT_BINS, 2),
        _cell_histograms(mag, unsigned, _ORIENT_BINS, 4),
    ]
    return np.concatenate([*parts, _edge_statistics(grey, mag)])


def _edge_statistics(grey: np.ndarray, mag: np.ndarray) -> np.ndarray:
    """Contrast-normalised edge strength and density (robust to dim or low-contrast shots)."""
    contrast = float(grey.std()) + 1e-3
    rel = mag / contrast
    return np.array(
        [
            rel.mean(),
            rel.std(),
            (rel > 0.25).mean(),
            (rel > 0.75).mean(),
            (rel > 1.5).mean(),
            np.log(contrast),
        ],
        dtype=np.float32,
    )


def _lbp_riu2_table() -> np.ndarray:
    """Map 8-bit LBP codes to rotation-invariant uniform classes 0..9 (9 = non-uniform)."""
    table = np.empty(256, dtype=np.int64)
    for code in range(256):
        bits = [(code >> i) & 1 for i in range(8)]
        transitions = sum(bits[i] != bits[(i + 1) % 8] for i in range(8))
        table[code] = sum(bits) if transitions <= 2 else 9
    return table


_LBP_TABLE = _lbp_riu2_table()
_LBP_OFFSETS = ((-1, -1), (-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1))


def lbp_histogram(grey: np.ndarray) -> np.ndarray:
    """Rotation-invariant uniform local binary pattern histogram (10 bins, Hellinger)."""
    centre = grey[1:-1, 1:-1]
    hgt, wid = grey.shape
    code = np.zeros(centre.shape, dtype=np.int64)
    for bit, (dy, dx) in enumerate(_LBP_OFFSETS):
        neighbour = grey[1 + dy : hgt - 1 + dy, 1 + dx : wid - 1 + dx]
        code |= (neighbour >= centre + 1.0 / 255.0).astype(np.int64) << bit
    hist = np.bincount(_LBP_TABLE[code].ravel(), minlength=10).astype(np.float32)
    return _normalised(hist)


def texture_features(grey: np.ndarray) -> np.ndarray:
    """LBP histograms at two scales."""
    half = grey[: grey.shape[0] // 2 * 2, : grey.shape[1] // 2 * 2]
    half = half.reshape(half.shape[0] // 2, 2, half.shape[1] // 2, 2).mean(axis=(1, 3))
    return np.concatenate([lbp_histogram(grey), lbp_histogram(half)])


def _features(rgb: np.ndarray, hsv: np.ndarray) -> np.ndarray:
    grey = 0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]  # no BLAS call
    parts = [
        colour_histograms(hsv),
        colour_layout(rgb, hsv),
        gradient_features(grey),
        texture_features(grey),
    ]
    return np.concatenate(parts).astype(np.float32)


def features_from_rgb(rgb: np.ndarray) -> np.ndarray:
    """Feature vector of an RGB float array (H, W, 3) in [0, 1]."""
    return _features(rgb, rgb_to_hsv(rgb))


def extract_features(data: bytes) -> np.ndarray:
    """Float32 feature vector of the image encoded in ``data`` (raises on undecodable bytes)."""
    im = load_image(data)
    return _features(np.asarray(im, dtype=np.float32) / 255.0, _hsv_of(im))
