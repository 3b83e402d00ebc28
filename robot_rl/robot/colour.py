"""Colour camera encodings -> the spec's rgb8.

The policy and the panel take (H, W, 3) uint8 RGB. Camera drivers differ: realsense-ros publishes
``rgb8`` by default, but ``bgr8`` (OpenCV-based drivers, usb_cam), ``rgba8``/``bgra8`` and ``mono8``
are common, so each is converted here instead of refused. Conversion is a channel permutation or
a grey replicated to three channels; nothing is rescaled.
"""

from __future__ import annotations

import numpy as np

# encoding -> (channels on the wire, index of R, G, B among them)
COLOUR_ENCODINGS: dict[str, tuple[int, tuple[int, int, int]]] = {
    "rgb8": (3, (0, 1, 2)),
    "bgr8": (3, (2, 1, 0)),
    "rgba8": (4, (0, 1, 2)),
    "bgra8": (4, (2, 1, 0)),
    "mono8": (1, (0, 0, 0)),
}


def to_rgb8(pixels: np.ndarray, encoding: str) -> np.ndarray:
    """(H, W, C) or (H, W) uint8 in ``encoding`` -> (H, W, 3) uint8 RGB (a copy unless already rgb8).

    Raises ValueError naming the encoding and the allowed ones, or the shape that does not fit.
    """
    if encoding not in COLOUR_ENCODINGS:
        raise ValueError(f"unsupported colour encoding {encoding!r}; allowed: {', '.join(COLOUR_ENCODINGS)}")
    channels, order = COLOUR_ENCODINGS[encoding]
    if pixels.dtype != np.uint8:
        raise ValueError(f"{encoding} image has dtype {pixels.dtype}; expected uint8")
    if pixels.ndim == 2 and channels == 1:
        pixels = pixels[:, :, None]
    if pixels.ndim != 3 or pixels.shape[2] != channels:
        raise ValueError(f"{encoding} image has shape {pixels.shape}; expected (H, W, {channels})")
    if encoding == "rgb8":
        return pixels
    return np.ascontiguousarray(pixels[:, :, list(order)])
