"""Picture Time aligner: put the eyes at the same place in every frame.

The names below load on first use, so that a process that only drives the aligner (the backfill
job's main process, which hands the photos to its pool) does not pay for OpenCV and MediaPipe."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .align import Aligner
    from .decode import UndecodableImage
    from .models import AlignmentResult, AlignmentSettings
    from .render import render_frame, rescale_matrix

_WHERE = {
    "Aligner": ".align",
    "UndecodableImage": ".decode",
    "AlignmentResult": ".models",
    "AlignmentSettings": ".models",
    "render_frame": ".render",
    "rescale_matrix": ".render",
}

__all__ = [
    "Aligner",
    "AlignmentResult",
    "AlignmentSettings",
    "UndecodableImage",
    "render_frame",
    "rescale_matrix",
]


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
