"""The Aligner: find the owner's eyes in a photo and render the aligned frame."""

from __future__ import annotations

import logging
import math
import time

import cv2
import numpy as np

from .decode import ImageSource, Level, UndecodableImage
from .faceprint import SAME_PERSON, Candidate, FaceEmbedder, choose_owner
from .geometry import apply, compose, invert, rotation_affine, similarity
from .landmarks import Face, FaceMesh, eye_centres, face_quality, landmark_roi
from .models import AlignmentResult, AlignmentSettings, Failure
from .render import MAX_UPSCALE, REUSE_UPSCALE, encode_jpeg, needed_reduction, render, warp

log = logging.getLogger("picturetime.aligner")

DETECT_LONG_SIDE = 640  # coarse detection input; FaceMesh's detector sees 128x128 anyway
# Refinement crop: the face alone, upright, at a fixed size, so FaceMesh sees nearly the same
# picture whatever the photo's rotation, scale and position; that is what removes the jitter.
CANON_SIZE = 256
CANON_EYE_DISTANCE = 0.30
CANON_EYE_LINE = 0.45
# Crop nudges (dx, dy in crop pixels, degrees, zoom) for the extra looks averaged after the first
# refinement; opposite pairs (and balanced fours) so that the mean crop is the centred one.
NUDGES = (
    (-2, -2, -4, 0.95),
    (2, 2, 4, 1.05),
    (2, -2, -2, 1.03),
    (-2, 2, 2, 0.97),
    (0, -2, 3, 1.02),
    (0, 2, -3, 0.98),
    (-2, 0, -1, 1.04),
    (2, 0, 1, 0.96),
)
UPSIDE_DOWN_SUSPECT = 0.8  # refined detector score below which the 180-degree turn is tried too
# Selfies rarely have eyes closer than this fraction of the short side; it picks the first decode.
TYPICAL_EYE_FRACTION = 0.12
ROTATIONS = (0, 90, 270, 180)  # phones mostly err by a quarter turn
# The first decode is guessed from the last face of the same photo size; a guess that needs up to
# this upscale of a reduced decode is still taken (a day's framing varies by a few per cent).
GUESS_UPSCALE = 1.35
# A group photo's faces are too small for MediaPipe's selfie detector on the coarse copy; dlib's
# detector looks for them on a copy this large (about 0.1 s, only when MediaPipe found none).
CROWD_LONG_SIDE = 1600
EMBED_EYE_PX = 48  # a face chip of 150 px has its eyes about 50 px apart
AMBIGUOUS_CONFIDENCE = 0.3  # a guess among faces: below any review threshold


def _canon_targets() -> tuple[tuple[float, float], tuple[float, float]]:
    half = CANON_EYE_DISTANCE * CANON_SIZE / 2
    c, y = CANON_SIZE / 2 - 0.5, CANON_EYE_LINE * CANON_SIZE - 0.5
    return (c - half, y), (c + half, y)


def _point(value) -> tuple[float, float] | None:
    if value is None:
        return None
    try:
        x, y = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError("an eye point must be [x, y]") from None
    if not (math.isfinite(x) and math.isfinite(y)):
        raise ValueError("an eye point must be finite")
    return (x, y)


def _detection_level(level: Level, long_side: int) -> Level:
    """A box-halved copy whose long side is at most about long_side (cached on the level)."""
    times = 0
    while max(level.image.shape[:2]) / 2**times > 1.25 * long_side:
        times += 1
    return level.halved(times)


def _box_of(points: np.ndarray) -> tuple[float, float, float, float]:
    lo, hi = points.min(axis=0), points.max(axis=0)
    return (float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1]))


def _distance(embedding: np.ndarray | None, reference: dict) -> float:
    if embedding is None or reference.get("embedding") is None:
        return 0.0
    return float(np.linalg.norm(embedding - np.asarray(reference["embedding"], dtype=np.float64)))


def _where_the_owner_stands(face: Candidate, reference: dict, size: tuple[int, int]) -> bool:
    """Whether a face has about the owner's usual eye distance and place (a daily selfie's)."""
    try:
        usual_mid = np.asarray(reference["mid"], dtype=np.float64) * np.asarray(size, dtype=np.float64)
        usual_eye = float(reference["eye_distance"]) * min(size)
    except (KeyError, TypeError, ValueError):
        return False
    ratio = face.eye_distance / max(1.0, usual_eye)
    shift = float(np.hypot(*(face.eyes.mean(axis=0) - usual_mid))) / max(1.0, usual_eye)
    return 2 / 3 <= ratio <= 1.5 and shift <= 1.5


def _same_face(candidate: Candidate, others: list[Candidate]) -> bool:
    mid = candidate.eyes.mean(axis=0)
    return any(
        float(np.hypot(*(o.eyes.mean(axis=0) - mid))) < 0.5 * max(o.eye_distance, candidate.eye_distance)
        for o in others
    )


class Aligner:
    """Aligns photos; load once and reuse. Thread-safe: FaceMesh calls are serialised by a lock
    inside, decoding, warping and encoding run in parallel. For parallel detection as well, use
    one Aligner per thread or process."""

    def __init__(self, settings: AlignmentSettings = AlignmentSettings(), max_faces: int = 8, looks: int = 4):
        self.settings = settings
        # Extra nudged refinement looks (0..8), about 5 ms each (landmark model only): 2 halve the
        # jitter of 0, 4 take a further fifth off, 8 little more.
        self.looks = max(0, min(looks, len(NUDGES)))
        self._mesh = FaceMesh(max_faces=max_faces)
        self._embedder = FaceEmbedder()
        # Eye distance / short side of the last face aligned per photo size: guides the first
        # decode of the next photo of that size (a camera's daily series keeps its framing).
        self._last_eye_fraction: dict[tuple[int, int], float] = {}

    def close(self) -> None:
        """Release the MediaPipe graph."""
        self._mesh.close()

    def __enter__(self) -> Aligner:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def align(self, image_bytes: bytes, hints: dict | None = None) -> AlignmentResult:
        """Align one encoded photo; never raises for bad input (see the result's status)."""
        try:
            return self._align(image_bytes, hints or {})
        except UndecodableImage:
            return self._failed(Failure.UNDECODABLE, "undecodable")
        except ValueError as exc:
            return self._failed(Failure.INVALID_INPUT, f"invalid: {exc}")
        except Exception as exc:  # a corrupt file can upset any native library underneath
            log.exception("aligner.frame.error")
            return self._failed(Failure.INTERNAL, f"{type(exc).__name__}: {exc}")

    def forget_sizes(self) -> None:
        """Forget the face sizes of the photos aligned so far, so the next result depends on its input
        alone (they only guess the first decode, but that guess can move the eyes by a fraction of a pixel)."""
        self._last_eye_fraction.clear()

    def _failed(self, failure: Failure, error: str | None, input_size=None, quality=None) -> AlignmentResult:
        return AlignmentResult(
            status="no_face" if failure is Failure.NO_FACE else "error",
            matrix=None,
            left_eye=None,
            right_eye=None,
            confidence=0.0,
            quality=quality or {},
            input_size=input_size,
            output_size=self.settings.size,
            jpeg=None,
            error=error,
            failure=failure,
        )

    def _align(self, image_bytes: bytes, hints: dict) -> AlignmentResult:
        t0 = time.perf_counter()
        source = ImageSource(image_bytes)
        manual = (_point(hints.get("left_eye")), _point(hints.get("right_eye")))
        # "faceprint" (the owner's reference, or None before the first frame) asks for the owner's
        # face among several, and for the chosen face's embedding.
        owner = hints.get("faceprint") if "faceprint" in hints else False
        # "embed" (default yes): the chosen face's embedding is wanted even when no choice needs it
        # (about 50 ms); the service asks on some days only, enough to keep the faceprint current.
        want_embedding = owner is not False and bool(hints.get("embed", True))
        embedding = None
        if all(manual):
            eyes = np.array(manual)
            quality: dict = {"manual": True}
            confidence = 1.0
            if want_embedding:  # the owner pointed at their own face: remember it
                embedding = self._embed(source, eyes)
        else:
            ref = hints.get("reference") or {}
            reference = (_point(ref.get("left_eye")), _point(ref.get("right_eye")))
            found = self._locate(source, reference if all(reference) else None, owner, want_embedding)
            if found is None:
                return self._failed(Failure.NO_FACE, None, source.size, {"faces": 0})
            eyes, quality, confidence, embedding = found
        matrix = similarity(tuple(eyes[0]), tuple(eyes[1]), *self.settings.target_eyes())
        frame = render(source, matrix, self.settings)
        jpeg = encode_jpeg(frame, self.settings.jpeg_quality)
        quality["decoded"] = [lv.reduction for lv in source.decoded()]  # which JPEG reductions it took
        log.debug("aligned in %.1f ms, decodes %s", 1000 * (time.perf_counter() - t0), source.decoded())
        return AlignmentResult(
            status="aligned",
            matrix=[[float(v) for v in row] for row in matrix],
            left_eye=(float(eyes[0][0]), float(eyes[0][1])),
            right_eye=(float(eyes[1][0]), float(eyes[1][1])),
            confidence=round(float(confidence), 4),
            quality=quality,
            input_size=source.size,
            output_size=self.settings.size,
            jpeg=jpeg,
            embedding=None if embedding is None else [float(v) for v in embedding],
        )

    def locate_eyes(self, image_bytes: bytes, hints: dict | None = None) -> np.ndarray | None:
        """Just the (2, 2) eye centres in upright pixels, or None; no rendering."""
        ref = (hints or {}).get("reference") or {}
        reference = (_point(ref.get("left_eye")), _point(ref.get("right_eye")))
        found = self._locate(ImageSource(image_bytes), reference if all(reference) else None, False)
        return None if found is None else found[0]

    def _first_reduction(self, source: ImageSource, reference) -> int:
        # One decode is cheaper than a reduced one for detection plus a finer one for the output
        # (Huffman decoding dominates a reduced decode), so guess the level this face will need
        # and decode again only if it turns out smaller. The guess: the reference eyes' distance
        # if given, else the face size of the last photo of this size this Aligner aligned, else
        # a typical selfie's. A wrong guess costs time, never accuracy: a face smaller than
        # guessed is decoded again finer, a larger one is rendered from the finer decode.
        short = min(source.size)
        if reference is not None:
            eye_px = float(np.hypot(*(np.array(reference[1]) - np.array(reference[0]))))
        else:
            eye_px = self._last_eye_fraction.get(source.size, TYPICAL_EYE_FRACTION) * short
        return self._reduction_for(source, max(1.0, eye_px), GUESS_UPSCALE)

    def _reduction_for(self, source: ImageSource, eye_px: float, max_upscale: float = MAX_UPSCALE) -> int:
        """The coarsest decode that gives both the output and the refinement crop enough pixels."""
        out_eye_px = max(self.settings.eye_distance * self.settings.width, CANON_EYE_DISTANCE * CANON_SIZE)
        fits = [r for r in source.reductions() if out_eye_px / eye_px * r <= max_upscale]
        return max(fits, default=1)

    def _detect_any_rotation(self, level: Level) -> tuple[list[Face], int]:
        """Faces in full upright pixels, trying quarter turns when the upright image has none."""
        h, w = level.image.shape[:2]
        for degrees in ROTATIONS:
            if degrees == 0:
                image, rot = level.image, None
            else:
                rot, _ = rotation_affine(degrees, w, h)
                code = {90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_COUNTERCLOCKWISE}
                image = cv2.rotate(level.image, code[degrees])
            faces = self._mesh.detect(image)
            if faces:
                to_full = level.to_full if rot is None else compose(level.to_full, invert(rot))
                return [Face(apply(to_full, f.points), f.score) for f in faces], degrees
        return [], 0

    def _refine(
        self,
        level: Level,
        eyes: np.ndarray,
        nudge: tuple[float, float, float, float] = (0, 0, 0, 1),
        known: np.ndarray | None = None,
        score: float = 0.0,
    ):
        """Detect again on an upright crop of the face at a fixed scale: (points, eyes, score) or None.

        With ``known`` landmarks (full-resolution pixels) the face's place in the crop is already
        known, so only the landmark model runs, on the rectangle FaceMesh would track it by."""
        targets = np.array(_canon_targets())
        m_canon = similarity(tuple(eyes[0]), tuple(eyes[1]), *_canon_targets())
        if nudge != (0, 0, 0, 1):
            # Look at the face through a slightly different crop; averaging such looks cancels
            # the part of FaceMesh's error that depends on where the face sits in its input.
            dx, dy, degrees, zoom = nudge
            c = (CANON_SIZE / 2 - 0.5, CANON_SIZE / 2 - 0.5)
            turn = np.asarray(cv2.getRotationMatrix2D(c, degrees, zoom), dtype=np.float64)
            turn[:, 2] += (dx, dy)
            m_canon = compose(turn, m_canon)
        crop = warp(level, m_canon, (CANON_SIZE, CANON_SIZE))
        if known is not None:
            found = self._mesh.landmarks(crop, *landmark_roi(apply(m_canon, known)))
            candidates = [] if found is None else [Face(found, score)]
        else:
            candidates = self._mesh.detect(crop)
        if not candidates:
            return None
        best = min(candidates, key=lambda f: float(np.abs(f.eye_centres() - targets).sum()))
        if np.abs(best.eye_centres() - targets).max() > 0.25 * CANON_EYE_DISTANCE * CANON_SIZE:
            return None  # the crop found some other face
        points = apply(invert(m_canon), best.points)
        return points, eye_centres(points), best.score

    def _embed(self, source: ImageSource, eyes: np.ndarray, level: Level | None = None) -> np.ndarray | None:
        """The embedding of the face with these eyes (full pixels), from a decode that keeps the eyes
        at least EMBED_EYE_PX apart (as dlib's face chip needs)."""
        if level is None:
            eye_px = float(np.hypot(*(eyes[1] - eyes[0])))
            fits = [r for r in source.reductions() if eye_px / r >= EMBED_EYE_PX]
            level = source.level(max(fits, default=1))
        to_level = invert(level.to_full)
        if abs(to_level[0, 1]) > 1e-9:  # a level turned against upright: no embedding
            return None
        rgb = cv2.cvtColor(level.image, cv2.COLOR_BGR2RGB)
        return self._embedder.embed(rgb, apply(to_level, eyes))

    def _crowd(self, level: Level) -> list[Candidate]:
        """Faces too small for MediaPipe's selfie detector, found by dlib's on a larger copy."""
        rgb = cv2.cvtColor(level.image, cv2.COLOR_BGR2RGB)
        found = []
        for eyes, box in self._embedder.find_faces(rgb):
            # MediaPipe on the face's own crop confirms it (dlib's detector also sees faces in
            # patterns) and gives its landmarks.
            refined = self._refine(level, apply(level.to_full, eyes))
            if refined is None:
                continue
            points, eyes_full, score = refined
            corners = apply(level.to_full, np.array([box[:2], box[2:]]))
            (x0, y0), (x1, y1) = corners.min(axis=0), corners.max(axis=0)
            found.append(Candidate(eyes_full, (float(x0), float(y0), float(x1), float(y1)), points, score))
        return found

    def _choose(
        self,
        source: ImageSource,
        level: Level,
        candidates: list[Candidate],
        owner,
        rotation: int,
        embed: bool,
    ) -> tuple[Candidate, str]:
        """The owner's face among the candidates; with `owner` asked for, the chosen one's embedding."""
        reference = owner or None
        # A face found only after a quarter turn lies sideways in the level: dlib's shape model
        # expects it upright, so such a photo is chosen by size and place alone.
        can_embed = owner is not False and rotation == 0
        rgb = cv2.cvtColor(level.image, cv2.COLOR_BGR2RGB) if can_embed else None
        to_level = invert(level.to_full)
        if rgb is not None and reference and reference.get("embedding") is not None and len(candidates) > 1:
            for c in candidates:
                c.embedding = self._embedder.embed(rgb, apply(to_level, c.eyes))
        chosen, choice = choose_owner(candidates, reference, source.size)
        if rgb is not None and chosen.embedding is None and embed:
            chosen.embedding = self._embedder.embed(rgb, apply(to_level, chosen.eyes))
        if chosen.distance is None and chosen.embedding is not None and reference:
            chosen.distance = _distance(chosen.embedding, reference)
        return chosen, choice

    def _locate(self, source: ImageSource, reference, owner=False, embed: bool = False):
        """Coarse detection on a small copy, then refinement on upright face crops."""
        base = source.level(self._first_reduction(source, reference))
        coarse = _detection_level(base, DETECT_LONG_SIDE)
        faces, rotation = self._detect_any_rotation(coarse)
        choice, embedding = None, None
        candidates = [Candidate(f.eye_centres(), _box_of(f.points), f.points, f.score) for f in faces]
        level = coarse
        crowd = not faces or (reference is None and len(faces) > 1)
        alone = candidates[0] if len(candidates) == 1 else None
        if (
            alone is not None
            and reference is None
            and rotation == 0
            and owner
            and owner.get("embedding") is not None
            and not _where_the_owner_stands(alone, owner, source.size)
        ):
            # One face, not of the owner's usual size and place: if it is not the owner's either,
            # the owner may be among smaller faces behind.
            alone.embedding = self._embed(source, alone.eyes, coarse)
            crowd = _distance(alone.embedding, owner) >= SAME_PERSON
        if crowd:
            # A group photo: MediaPipe's selfie detector misses the smaller faces; dlib's finds them.
            level = _detection_level(base, CROWD_LONG_SIDE)
            candidates += [c for c in self._crowd(level) if not _same_face(c, candidates)]
            for c in candidates:
                c.embedding = None  # embeddings are taken on one level
            if not candidates:
                return None
        if reference is None and (len(candidates) > 1 or owner is not False):
            chosen, choice = self._choose(source, level, candidates, owner, rotation, embed)
            embedding = chosen.embedding
        elif reference is not None:
            ref = np.array(reference)
            ref_mid, ref_dist = ref.mean(axis=0), max(1.0, float(np.hypot(*(ref[1] - ref[0]))))

            def mismatch(c: Candidate) -> float:
                return float(np.hypot(*(c.eyes.mean(axis=0) - ref_mid))) + abs(c.eye_distance - ref_dist)

            chosen = min(candidates, key=mismatch)
        else:
            chosen = candidates[0]
        eyes, points, score = chosen.eyes, chosen.points, chosen.score
        assert points is not None  # every candidate has MediaPipe's landmarks

        # Refine from a decode fine enough for the output (decoding again only if the face is
        # smaller than a typical selfie's).
        coarse_matrix = similarity(tuple(eyes[0]), tuple(eyes[1]), *self.settings.target_eyes())
        eye_px = float(np.hypot(*(eyes[1] - eyes[0])))
        level = source.finest_needed(
            min(needed_reduction(source, coarse_matrix), self._reduction_for(source, eye_px)),
            min(
                needed_reduction(source, coarse_matrix, REUSE_UPSCALE),
                self._reduction_for(source, eye_px, REUSE_UPSCALE),
            ),
        )
        refined = 0
        first = self._refine(level, eyes)
        if first is None or first[2] < UPSIDE_DOWN_SUSPECT:
            # An upside-down face can fool FaceMesh into a mirrored fit with the eyes swapped, at a
            # low score; the crop turned by 180 degrees (eyes swapped back) shows it upright.
            turned = self._refine(level, eyes[::-1])
            if turned is not None and (first is None or turned[2] > first[2]):
                first, rotation = turned, (rotation + 180) % 360
        if first is not None:
            points, eyes, score = first
            refined = 1
            # The nudged looks know where the face is: the landmark model alone, on the
            # rectangle the first look's landmarks give (half the cost of a detector pass).
            looks = [first] + [
                self._refine(level, eyes, nudge, points, score) for nudge in NUDGES[: self.looks]
            ]
            looks = [look for look in looks if look is not None]
            points = np.mean([look[0] for look in looks], axis=0)
            eyes = eye_centres(points)
            score = float(np.mean([look[2] for look in looks]))
            refined = len(looks)
        if len(self._last_eye_fraction) > 16:
            self._last_eye_fraction.clear()
        self._last_eye_fraction[source.size] = float(np.hypot(*(eyes[1] - eyes[0]))) / max(
            1, min(source.size)
        )
        quality = face_quality(points)
        quality.update(faces=len(candidates), rotation_tried=rotation, refined=refined)
        confidence = score * (1.0 if refined else 0.6)
        if choice is not None and chosen.distance is not None:
            quality["owner_distance"] = round(chosen.distance, 3)  # how like the owner's faceprint
        if choice is not None and len(candidates) > 1:
            quality["choice"] = choice
            quality["candidates"] = [c.to_json() for c in candidates]
            quality["image_size"] = list(source.size)  # the boxes' upright frame of reference
            if choice == "ambiguous":
                # Which of these people is the owner is a guess: the review queue asks them.
                quality["ambiguous_face"] = True
                confidence = min(confidence, AMBIGUOUS_CONFIDENCE)
        return eyes, quality, confidence, embedding
