"""Whose face is it: dlib's 128-d face embedding, a crowd detector, and the owner's faceprint.

The models ship inside wheels (`dlib-bin`, `face-recognition-models`), so this works offline. Two
embeddings of one person lie closer than about 0.6 (Euclidean); of two people, farther.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import numpy as np

from .models import AlignmentResult

SAME_PERSON = 0.6  # dlib's own threshold for its face-recognition ResNet
CLEAR_MARGIN = 0.08  # the owner's candidate must be this much closer than the next one
DOMINANT_SIZE = 1.6  # with nothing to compare, a face this much larger than the next is the subject
# Size and position: a candidate whose mismatch is this fraction of the next one's is the owner's.
CLEAR_GEOMETRY = 0.5
RECENT_LOOKS = 30  # the faceprint keeps this many aligned frames' embeddings (the face ages)
# An embedding costs about 50 ms: a selfie's is taken until the faceprint has this many looks,
# then on one photo in LOOK_EVERY (a group photo's faces are always compared).
EAGER_LOOKS = 10
LOOK_EVERY = 7


@dataclass
class Candidate:
    """One face in a photo: eye centres and box in upright full-resolution pixels."""

    eyes: np.ndarray  # (2, 2), image-left eye first
    box: tuple[float, float, float, float]  # x0, y0, x1, y1
    points: np.ndarray | None = None  # MediaPipe's landmarks, when it fitted them
    score: float = 0.0  # MediaPipe's detector score
    embedding: np.ndarray | None = None
    distance: float | None = None  # to the owner's faceprint

    @property
    def eye_distance(self) -> float:
        return float(np.hypot(*(self.eyes[1] - self.eyes[0])))

    def to_json(self) -> dict[str, Any]:
        """The candidate as shown for review: its box, and how like the owner it is."""
        out: dict[str, Any] = {"box": [round(float(v), 1) for v in self.box]}
        if self.distance is not None:
            out["distance"] = round(self.distance, 3)
        return out


@dataclass
class Faceprint:
    """The owner's reference: embeddings and face geometry of recent aligned frames."""

    looks: list[dict[str, Any]] = field(default_factory=list)  # photo_id, embedding, mid, eye_distance

    @classmethod
    def from_json(cls, data: Any) -> Faceprint:
        """A faceprint from its stored JSON; entries that are not well-formed are dropped."""
        looks = []
        stored = data.get("looks") if isinstance(data, dict) else None
        for look in stored if isinstance(stored, list) else []:
            if not isinstance(look, dict):
                continue
            try:
                emb = [float(v) for v in look["embedding"]] if look.get("embedding") is not None else None
                mid = [float(v) for v in look["mid"]]
                if len(mid) != 2:
                    continue
                entry = {
                    "photo_id": str(look["photo_id"]),
                    "mid": mid[:2],
                    "eye_distance": float(look["eye_distance"]),
                }
            except (KeyError, TypeError, ValueError):
                continue
            if emb is not None and len(emb) == 128:
                entry["embedding"] = emb
            looks.append(entry)
        return cls(looks[-RECENT_LOOKS:])

    def to_json(self) -> dict[str, Any]:
        return {"version": 1, "looks": self.looks}

    def add(
        self, photo_id: str, embedding: np.ndarray | None, mid: tuple[float, float], eye_distance: float
    ) -> None:
        """Record one aligned frame of the owner (again: replaces that photo's earlier entry)."""
        entry: dict[str, Any] = {
            "photo_id": photo_id,
            "mid": [round(float(mid[0]), 4), round(float(mid[1]), 4)],
            "eye_distance": round(float(eye_distance), 4),
        }
        if embedding is not None:
            entry["embedding"] = [round(float(v), 5) for v in embedding]
        self.looks = [look for look in self.looks if look["photo_id"] != photo_id] + [entry]
        self.looks = self.looks[-RECENT_LOOKS:]

    def add_aligned(self, photo_id: str, result: AlignmentResult) -> bool:
        """Record an aligned frame if it is surely the owner's; whether it was."""
        quality = result.quality or {}
        if (
            result.embedding is None
            or result.left_eye is None
            or result.right_eye is None
            or not result.input_size
            or quality.get("ambiguous_face")
            or quality.get("owner_distance", 0.0) >= SAME_PERSON  # one face, and not like the owner
        ):
            return False
        eyes = np.array([result.left_eye, result.right_eye], dtype=np.float64)
        w, h = result.input_size
        mid = eyes.mean(axis=0) / (w, h)
        eye_distance = float(np.hypot(*(eyes[1] - eyes[0]))) / max(1, min(w, h))
        self.add(photo_id, np.asarray(result.embedding), (float(mid[0]), float(mid[1])), eye_distance)
        return True

    def wants_look(self, photo_id: str) -> bool:
        """Whether a photo's embedding should be taken for the faceprint even if one face is all it has."""
        if len(self.looks) < EAGER_LOOKS:
            return True
        return int(hashlib.sha256(photo_id.encode()).hexdigest()[:8], 16) % LOOK_EVERY == 0

    def reference(self) -> dict[str, Any] | None:
        """What the aligner compares with: the mean embedding and the median face geometry."""
        if not self.looks:
            return None
        embeddings = [look["embedding"] for look in self.looks if "embedding" in look]
        return {
            "embedding": np.mean(embeddings, axis=0).tolist() if embeddings else None,
            "mid": np.median([look["mid"] for look in self.looks], axis=0).tolist(),
            "eye_distance": float(np.median([look["eye_distance"] for look in self.looks])),
        }


def choose_owner(
    candidates: list[Candidate], reference: dict[str, Any] | None, size: tuple[int, int]
) -> tuple[Candidate, str]:
    """The owner's face among several, and how it was chosen ("ambiguous" when it was not clear).

    Ambiguous returns the likeliest candidate: the face most like the owner's, else the one nearest
    the owner's usual size and place, else the largest."""
    by_size = sorted(candidates, key=lambda c: -c.eye_distance)
    if len(candidates) == 1:
        return candidates[0], "only"
    embedding = reference.get("embedding") if reference else None
    if embedding is not None and all(c.embedding is not None for c in candidates):
        ref = np.asarray(embedding, dtype=np.float64)
        for c in candidates:
            assert c.embedding is not None
            c.distance = float(np.linalg.norm(c.embedding - ref))
        ranked = sorted(candidates, key=lambda c: c.distance or 0.0)
        best, second = ranked[0].distance or 0.0, ranked[1].distance or 0.0
        if best < SAME_PERSON and second - best >= CLEAR_MARGIN:
            return ranked[0], "faceprint"
        if best >= SAME_PERSON:  # nobody here looks like the owner: a place alone is no proof
            return ranked[0], "ambiguous"
        # Two look like the owner: their size and place may still tell them apart.
    if reference is not None and reference.get("mid") is not None:
        short = max(1, min(size))
        mid = np.asarray(reference["mid"], dtype=np.float64) * np.array(size, dtype=np.float64)
        eye_px = float(reference["eye_distance"]) * short

        def mismatch(c: Candidate) -> float:
            shift = float(np.hypot(*(c.eyes.mean(axis=0) - mid))) / max(1.0, eye_px)
            return shift + abs(np.log(max(1e-6, c.eye_distance) / max(1e-6, eye_px)))

        ranked = sorted(candidates, key=mismatch)
        if mismatch(ranked[0]) <= CLEAR_GEOMETRY * mismatch(ranked[1]):
            return ranked[0], "geometry"
        return ranked[0], "ambiguous"
    if by_size[0].eye_distance >= DOMINANT_SIZE * by_size[1].eye_distance:
        return by_size[0], "largest"
    return by_size[0], "ambiguous"


def box_around(eyes: np.ndarray) -> tuple[float, float, float, float]:
    """A box like dlib's detector's around a face with these eye centres: every path (MediaPipe's
    faces, dlib's, manual eye points) then gives the shape model the same start."""
    mid = eyes.mean(axis=0)
    d = max(1.0, float(np.hypot(*(eyes[1] - eyes[0]))))
    cx, cy, half = float(mid[0]), float(mid[1] + 0.45 * d), 1.2 * d
    return (cx - half, cy - half, cx + half, cy + half)


def _model_file(name: str) -> str:
    return str(
        metadata.distribution("face-recognition-models").locate_file(f"face_recognition_models/models/{name}")
    )


class FaceEmbedder:
    """dlib's HOG face detector, its 5-point shape model and its face-recognition ResNet; loaded on
    first use (about 0.3 s, 30 MB). Calls are serialised: the network keeps buffers between them."""

    def __init__(self) -> None:
        self._models: tuple[Any, Any, Any] | None = None
        self._lock = threading.Lock()
        self._calls = threading.Lock()

    def _load(self) -> tuple[Any, Any, Any]:
        with self._lock:
            if self._models is None:
                import dlib

                # Located through the distribution: importing the package needs pkg_resources.
                shape = dlib.shape_predictor(_model_file("shape_predictor_5_face_landmarks.dat"))
                net = dlib.face_recognition_model_v1(_model_file("dlib_face_recognition_resnet_model_v1.dat"))
                self._models = (dlib.get_frontal_face_detector(), shape, net)
            return self._models

    def find_faces(self, rgb: np.ndarray) -> list[tuple[np.ndarray, tuple[float, float, float, float]]]:
        """Faces too small for MediaPipe's selfie detector: (eye centres, box) in rgb's pixels."""
        detector, shape_model, _ = self._load()
        found = []
        with self._calls:
            shapes = [(rect, shape_model(rgb, rect)) for rect in detector(np.ascontiguousarray(rgb), 0)]
        for rect, shape in shapes:
            pts = np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)
            # The 5-point model: 0, 1 the image-right eye's corners, 2, 3 the image-left eye's, 4 the nose.
            eyes = np.stack([pts[2:4].mean(axis=0), pts[0:2].mean(axis=0)])
            box = (float(rect.left()), float(rect.top()), float(rect.right()), float(rect.bottom()))
            found.append((eyes, box))
        return found

    def embed(self, rgb: np.ndarray, eyes: np.ndarray) -> np.ndarray:
        """The 128-d embedding of the face with these eye centres (rgb's pixels)."""
        import dlib

        _, shape_model, net = self._load()
        x0, y0, x1, y1 = (round(v) for v in box_around(eyes))
        with self._calls:
            shape = shape_model(rgb, dlib.rectangle(x0, y0, x1, y1))
            return np.asarray(net.compute_face_descriptor(rgb, shape), dtype=np.float64)
