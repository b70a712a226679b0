"""Picture Time aligner: put the eyes at the same place in every frame."""

from .align import Aligner
from .decode import UndecodableImage
from .models import AlignmentResult, AlignmentSettings
from .render import render_frame, rescale_matrix

__all__ = [
    "Aligner",
    "AlignmentResult",
    "AlignmentSettings",
    "UndecodableImage",
    "render_frame",
    "rescale_matrix",
]
