"""MediaPipe FaceMesh (478 landmarks with irises) and the measurements taken from it."""

from __future__ import annotations

import contextlib
import math
import os
import re
import sys
import tempfile
import threading
import types
from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np

os.environ.setdefault("GLOG_minloglevel", "2")  # MediaPipe's C++ logging is noisy on stderr

# Landmark indices. "Image-left" means the eye that appears on the left when the face is upright
# (the subject's right eye); FaceMesh names it by the subject, so it is its "right" eye.
IRIS_LEFT, IRIS_RIGHT = 468, 473
EYE_LEFT_CONTOUR = (33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246)
EYE_RIGHT_CONTOUR = (263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466)
EYE_LEFT_CORNERS, EYE_RIGHT_CORNERS = (33, 133), (362, 263)
# Upper/lower lid pairs for the eye aspect ratio.
LIDS_LEFT = ((159, 145), (158, 153), (160, 144))
LIDS_RIGHT = ((386, 374), (385, 380), (387, 373))
NOSE_TIP, CHEEK_LEFT, CHEEK_RIGHT = 1, 234, 454

EYES_CLOSED_EAR = 0.16
STRONG_YAW = 0.45


@dataclass
class Face:
    """One face: 478 landmarks in the pixel coordinates of the image it was found in."""

    points: np.ndarray  # (478, 2) float64
    score: float  # face-detector score, 0..1

    def eye_centres(self) -> np.ndarray:
        """(2, 2): image-left then image-right eye centre."""
        return eye_centres(self.points)

    @property
    def eye_distance(self) -> float:
        """Distance between the eye centres in pixels."""
        left, right = self.eye_centres()
        return float(np.hypot(*(right - left)))


def eye_centres(points: np.ndarray) -> np.ndarray:
    """Eye centres: the iris centre averaged with the eye-contour centroid."""
    # The contour is anchored to the skull and does not follow the gaze; the iris is what a person
    # sees as "the eye". Averaging both halves the gaze wobble and the per-landmark noise.
    left = 0.5 * points[IRIS_LEFT] + 0.5 * points[list(EYE_LEFT_CONTOUR)].mean(axis=0)
    right = 0.5 * points[IRIS_RIGHT] + 0.5 * points[list(EYE_RIGHT_CONTOUR)].mean(axis=0)
    return np.stack([left, right])


def _ear(points: np.ndarray, lids, corners) -> float:
    width = np.linalg.norm(points[corners[0]] - points[corners[1]])
    opening = np.mean([np.linalg.norm(points[a] - points[b]) for a, b in lids])
    return float(opening / width) if width > 0 else 0.0


def face_quality(points: np.ndarray) -> dict:
    """Roll, yaw and eyes-closed measurements from landmarks in upright pixels."""
    left, right = eye_centres(points)
    dx, dy = right - left
    roll = math.degrees(math.atan2(dy, dx))
    # Yaw from where the nose tip sits between the cheek edges, measured along the eye line.
    axis = np.array([dx, dy]) / max(1e-9, math.hypot(dx, dy))
    to_left = float(np.dot(points[NOSE_TIP] - points[CHEEK_LEFT], axis))
    to_right = float(np.dot(points[CHEEK_RIGHT] - points[NOSE_TIP], axis))
    yaw = (to_left - to_right) / max(1e-9, to_left + to_right)
    ear_left = _ear(points, LIDS_LEFT, EYE_LEFT_CORNERS)
    ear_right = _ear(points, LIDS_RIGHT, EYE_RIGHT_CORNERS)
    return {
        "roll_deg": round(roll, 2),
        "yaw": round(yaw, 3),
        "strong_yaw": bool(abs(yaw) > STRONG_YAW),
        "ear": round((ear_left + ear_right) / 2, 3),
        "eyes_closed": bool(max(ear_left, ear_right) < EYES_CLOSED_EAR),
    }


@contextlib.contextmanager
def _without_pyplot() -> Iterator[None]:
    """Import MediaPipe without matplotlib: its package imports its drawing helpers, which import
    matplotlib.pyplot, about a second of CPU in every aligner process (each backfill worker among
    them) for plots nothing here draws. Placeholders stand in for it during the import only; the
    drawing helpers keep theirs, and a later `import matplotlib` gets the real one."""
    if "mediapipe" in sys.modules or "matplotlib" in sys.modules:
        yield
        return
    placeholders = {name: types.ModuleType(name) for name in ("matplotlib", "matplotlib.pyplot")}
    sys.modules.update(placeholders)
    try:
        yield
    finally:
        for name, module in placeholders.items():
            if sys.modules.get(name) is module:
                del sys.modules[name]


class FaceMesh:
    """A static-image FaceMesh graph that also reports the detector scores; safe to share between threads."""

    def __init__(self, max_faces: int = 5, min_detection_confidence: float = 0.5):
        with _native_start_up_quiet():
            self._start(max_faces, min_detection_confidence)

    def _start(self, max_faces: int, min_detection_confidence: float) -> None:
        with _without_pyplot():
            from mediapipe.python.solution_base import SolutionBase
            from mediapipe.python.solutions import face_mesh  # also registers the graph's protos

        # FaceMesh's own class only exposes the landmarks; the graph also emits the detections,
        # whose scores make an honest confidence.
        self._graph = SolutionBase(
            binary_graph_path=face_mesh._BINARYPB_FILE_PATH,
            side_inputs={"num_faces": max_faces, "with_attention": True, "use_prev_landmarks": False},
            calculator_params={
                "facedetectionshortrangecpu__facedetectionshortrange__facedetection__"
                "TensorsToDetectionsCalculator.min_score_thresh": min_detection_confidence,
                "facelandmarkcpu__ThresholdingCalculator.threshold": 0.5,
            },
            outputs=["multi_face_landmarks", "face_detections"],
        )
        # The landmark model alone (no detector) on a given face rectangle: half the cost of a
        # full call, for looks at a face whose place is already known.
        from google.protobuf import text_format
        from mediapipe.framework import calculator_pb2

        config = text_format.Parse(_LANDMARKS_ONLY_GRAPH, calculator_pb2.CalculatorGraphConfig())
        self._landmarks_graph = SolutionBase(
            graph_config=config, side_inputs={"with_attention": True}, outputs=["face_landmarks"]
        )
        # A MediaPipe graph is not reentrant; pixel work around it (decode, warp, encode) is.
        self._lock = threading.Lock()
        # The graphs load their models on the first image: a blank one, here, so that their native
        # start-up warnings come now.
        blank = np.zeros((64, 64, 3), np.uint8)
        self.detect(blank)
        self.landmarks(blank, (32, 32), 48)

    def detect(self, bgr: np.ndarray) -> list[Face]:
        """All faces in a BGR image, landmarks in its pixel coordinates (pixel centres at integers)."""
        h, w = bgr.shape[:2]
        rgb = cv2.cvtColor(np.ascontiguousarray(bgr), cv2.COLOR_BGR2RGB)  # numpy's [..., ::-1] copy is slow
        with self._lock:
            out = self._graph.process({"image": rgb})
            faces_lm = list(out.multi_face_landmarks or [])
            detections = list(out.face_detections or [])
        boxes = []
        for det in detections:
            bb = det.location_data.relative_bounding_box
            boxes.append((bb.xmin * w, bb.ymin * h, (bb.xmin + bb.width) * w, (bb.ymin + bb.height) * h))
        scores = [float(det.score[0]) if det.score else 0.0 for det in detections]
        faces = []
        for lm in faces_lm:
            pts = _to_pixels(lm, w, h)
            mid = pts[[IRIS_LEFT, IRIS_RIGHT]].mean(axis=0)
            score = 0.0
            for (x0, y0, x1, y1), sc in zip(boxes, scores, strict=True):
                if x0 <= mid[0] <= x1 and y0 <= mid[1] <= y1:
                    score = max(score, sc)
            faces.append(Face(pts, score))
        return faces

    def landmarks(self, bgr: np.ndarray, centre, size: float, angle: float = 0.0) -> np.ndarray | None:
        """Landmarks of the face in a square rectangle (pixel centre, side, radians clockwise), no detector."""
        from mediapipe.framework.formats import rect_pb2

        h, w = bgr.shape[:2]
        roi = rect_pb2.NormalizedRect(
            x_center=(centre[0] + 0.5) / w,
            y_center=(centre[1] + 0.5) / h,
            width=size / w,
            height=size / h,
            rotation=angle,
        )
        rgb = cv2.cvtColor(np.ascontiguousarray(bgr), cv2.COLOR_BGR2RGB)  # numpy's [..., ::-1] copy is slow
        with self._lock:
            out = self._landmarks_graph.process({"image": rgb, "roi": roi})
            lm = out.face_landmarks
        if lm is None or len(lm.landmark) == 0:
            return None
        return _to_pixels(lm, w, h)

    def close(self) -> None:
        """Release the graphs."""
        with self._lock:
            self._graph.close()
            self._landmarks_graph.close()


# What MediaPipe's native libraries write to stderr as a graph starts, none of it anything a user
# can act on; absl's logging before InitializeLog ignores GLOG_minloglevel and TF_CPP_MIN_LOG_LEVEL.
_START_UP_NOISE = re.compile(
    rb"^(?:[IW]0000 |INFO: Created TensorFlow Lite |WARNING: All log messages before absl)"
)


_STDERR_SWAP = threading.Lock()  # fd 2 is the process's: one swap at a time, or one restores another's


@contextlib.contextmanager
def _native_start_up_quiet() -> Iterator[None]:
    """Capture file descriptor 2 for the block, then write back every line but start-up noise."""
    with _STDERR_SWAP:
        try:
            sys.stderr.flush()
            saved: int | None = os.dup(2)
        except (OSError, ValueError):  # no usable stderr: nothing to keep quiet
            saved = None
        if saved is None:
            yield
        else:
            with _captured_into(saved):
                yield


@contextlib.contextmanager
def _captured_into(saved: int) -> Iterator[None]:
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            with contextlib.suppress(OSError, ValueError):
                sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            kept = b"".join(line for line in captured if not _START_UP_NOISE.match(line))
            if kept:
                os.write(2, kept)


_LANDMARKS_ONLY_GRAPH = """
input_stream: "image"
input_stream: "roi"
output_stream: "face_landmarks"
node {
  calculator: "FaceLandmarkCpu"
  input_stream: "IMAGE:image"
  input_stream: "ROI:roi"
  input_side_packet: "WITH_ATTENTION:with_attention"
  output_stream: "LANDMARKS:face_landmarks"
}
"""


# A NormalizedLandmark with x, y, z only serialises as 0x0a 0x0f 0x0d <x> 0x15 <y> 0x1d <z>.
_LANDMARK_RECORD = np.dtype(
    [("head", "S3"), ("x", "<f4"), ("tag_y", "u1"), ("y", "<f4"), ("tag_z", "u1"), ("z", "<f4")]
)


def _to_pixels(landmarks, w: int, h: int) -> np.ndarray:
    # MediaPipe normalises continuous coordinates (pixel i spans [i, i+1)); shift to centres.
    # Reading 478 landmarks attribute by attribute costs 0.5 ms; the serialised list is read at
    # once when it has the plain layout (it always has, from FaceMesh), else one by one.
    raw = landmarks.SerializeToString()
    n = len(landmarks.landmark)
    if n and len(raw) == n * _LANDMARK_RECORD.itemsize:
        rec = np.frombuffer(raw, _LANDMARK_RECORD)
        if (
            (rec["head"] == b"\x0a\x0f\x0d").all()
            and (rec["tag_y"] == 0x15).all()
            and (rec["tag_z"] == 0x1D).all()
        ):
            xy = np.stack([rec["x"], rec["y"]], axis=1).astype(np.float64)
            return xy * (w, h) - 0.5
    return np.array([(p.x * w - 0.5, p.y * h - 0.5) for p in landmarks.landmark], dtype=np.float64)


def landmark_roi(points: np.ndarray) -> tuple[np.ndarray, float, float]:
    """The rectangle FaceMesh itself would track a face by: (centre, side, radians clockwise)."""
    # As face_landmark_front's landmarks-to-rect: the landmarks' box, turned by the eye-corner
    # line (33 -> 263), enlarged 1.5 times and made square.
    (x0, y0), (x1, y1) = points[33], points[263]
    angle = math.atan2(y1 - y0, x1 - x0)
    lo, hi = points.min(axis=0), points.max(axis=0)
    centre = (lo + hi) / 2
    return centre, 1.5 * float(max(hi - lo)), angle
