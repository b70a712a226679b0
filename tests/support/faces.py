"""Test photos of a real face with known eye positions, built offline from skimage's astronaut."""

from __future__ import annotations

import functools
import io
import math
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

EYE_FRACTION = 0.18  # at scale=1.0 the eyes are this fraction of the photo's short side apart
EYE_LINE = 0.42  # ... and their midpoint sits at this height (plus shift)
BASE_UPSCALE = 4  # the astronaut is 512 px; its eyes are located on a 4x upscaled copy


@dataclass(frozen=True)
class FacePhoto:
    """An encoded photo and the true eye centres in its upright pixels (the image-left eye first)."""

    jpeg: bytes
    left_eye: tuple[float, float]
    right_eye: tuple[float, float]
    size: tuple[int, int]  # upright (w, h)
    matrix: np.ndarray  # 2x3: astronaut pixels -> upright photo pixels

    @property
    def eyes(self) -> np.ndarray:
        """(2, 2) array of the true eye centres."""
        return np.array([self.left_eye, self.right_eye])


@functools.cache
def astronaut() -> np.ndarray:
    """skimage's 512x512 astronaut as BGR."""
    from skimage import data

    return np.ascontiguousarray(data.astronaut()[:, :, ::-1])


@functools.cache
def astronaut_eyes() -> tuple[tuple[float, float], tuple[float, float]]:
    """The astronaut's eye centres in its own 512 px frame, by the aligner's own definition."""
    from picturetime_aligner import Aligner

    k = BASE_UPSCALE
    big = cv2.resize(astronaut(), None, fx=k, fy=k, interpolation=cv2.INTER_CUBIC)
    ok, png = cv2.imencode(".png", big)
    assert ok
    with Aligner() as aligner:
        eyes = aligner.locate_eyes(png.tobytes())
    assert eyes is not None, "no face found in the astronaut"
    # cv2.resize maps pixel centres: x_big + 0.5 = k * (x + 0.5).
    base = (eyes + 0.5) / k - 0.5
    return (float(base[0][0]), float(base[0][1])), (float(base[1][0]), float(base[1][1]))


def _inverse_orientation(orientation: int) -> int:
    return {6: 8, 8: 6}.get(orientation, orientation)


def _orient(image: np.ndarray, orientation: int) -> np.ndarray:
    from picturetime_aligner.decode import orient

    return orient(image, orientation)


def encode(
    upright_bgr: np.ndarray, *, exif_orientation: int = 1, quality: int = 92, fmt: str = "JPEG"
) -> bytes:
    """Store upright pixels so that a viewer applying the EXIF orientation shows them upright."""
    raw = _orient(upright_bgr, _inverse_orientation(exif_orientation))
    image = Image.fromarray(np.ascontiguousarray(raw[:, :, ::-1]))
    out = io.BytesIO()
    kwargs: dict = {}
    if exif_orientation != 1:
        exif = Image.Exif()
        exif[0x0112] = exif_orientation
        kwargs["exif"] = exif.tobytes()
    if fmt == "JPEG":
        kwargs["quality"] = quality
    image.save(out, fmt, **kwargs)
    return out.getvalue()


def _add_grain(image: np.ndarray, sigma: float, seed: int) -> np.ndarray:
    if sigma <= 0:
        return image
    cv2.setRNGSeed(seed)
    noise = np.empty(image.shape, np.int16)
    cv2.randn(noise, (0, 0, 0), (sigma, sigma, sigma))  # scalars would only fill channel 0
    return cv2.add(image, noise, dtype=cv2.CV_8U)


def render_face(
    angle_deg: float = 0.0,
    scale: float = 1.0,
    shift: tuple[float, float] = (0.0, 0.0),
    size: tuple[int, int] = (900, 1200),
    grain: float = 2.0,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Upright BGR pixels of the astronaut placed by a similarity, and that astronaut->photo matrix."""
    (lx, ly), (rx, ry) = astronaut_eyes()
    w, h = size
    k = EYE_FRACTION * min(w, h) * scale / math.hypot(rx - lx, ry - ly)
    mid = ((lx + rx) / 2, (ly + ry) / 2)
    # Positive angles turn the face counter-clockwise on screen (cv2's convention).
    m = cv2.getRotationMatrix2D(mid, angle_deg, k)
    m[:, 2] += np.array([w / 2 + shift[0], EYE_LINE * h + shift[1]]) - mid
    pixels = cv2.warpAffine(astronaut(), m, (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT101)
    return _add_grain(pixels, grain, seed), m


def face_photo(
    angle_deg: float = 0.0,
    scale: float = 1.0,
    shift: tuple[float, float] = (0.0, 0.0),
    size: tuple[int, int] = (900, 1200),
    exif_orientation: int = 1,
    quality: int = 92,
    grain: float = 2.0,
    seed: int = 0,
    fmt: str = "JPEG",
) -> FacePhoto:
    """A photo of the astronaut turned by angle_deg, scaled and shifted, with known true eyes.

    ``size`` is the upright (w, h); scale 1.0 puts the eyes 18 % of the short side apart, with
    their midpoint at (w/2, 0.42 h) + shift. Scales from about 0.4 to 2.5 keep the face inside.
    """
    pixels, m = render_face(angle_deg, scale, shift, size, grain, seed)
    eyes = np.array(astronaut_eyes()) @ m[:, :2].T + m[:, 2]
    data = encode(pixels, exif_orientation=exif_orientation, quality=quality, fmt=fmt)
    return FacePhoto(
        data, (float(eyes[0, 0]), float(eyes[0, 1])), (float(eyes[1, 0]), float(eyes[1, 1])), size, m
    )


@functools.cache
def large_photo(angle_deg: float = 4.0, scale: float = 1.0, quality: int = 92) -> FacePhoto:
    """A 4000x3000 (12 MP) phone-like photo with camera grain; cached, it takes a second to make."""
    return face_photo(angle_deg=angle_deg, scale=scale, size=(4000, 3000), quality=quality, grain=6.0, seed=7)


def rotate_photo(photo: FacePhoto, degrees: int) -> FacePhoto:
    """The same photo with its pixels turned clockwise by 90/180/270 and no EXIF to undo it."""
    from picturetime_aligner.geometry import apply, compose, rotation_affine

    upright = cv2.imdecode(np.frombuffer(photo.jpeg, np.uint8), cv2.IMREAD_COLOR)
    code = {90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_COUNTERCLOCKWISE}[degrees]
    h, w = upright.shape[:2]
    rot, size = rotation_affine(degrees, w, h)
    eyes = apply(rot, photo.eyes)
    data = encode(cv2.rotate(upright, code), quality=95)
    return FacePhoto(data, tuple(eyes[0]), tuple(eyes[1]), size, compose(rot, photo.matrix))


def blank_photo(size: tuple[int, int] = (900, 1200), seed: int = 0) -> bytes:
    """A JPEG with no face: a smooth gradient with grain."""
    w, h = size
    x = np.linspace(0, 1, w, dtype=np.float32)[None, :]
    y = np.linspace(0, 1, h, dtype=np.float32)[:, None]
    img = np.stack([60 + 120 * x + 0 * y, 90 + 80 * y + 0 * x, 140 - 60 * x * y], axis=-1).astype(np.uint8)
    return encode(_add_grain(img, 3.0, seed))


def two_faces_photo() -> tuple[bytes, np.ndarray, np.ndarray]:
    """A 1200x900 photo with a larger face on the left and a smaller one on the right: (jpeg, eyes, eyes)."""
    size = (1200, 900)
    big, m_big = render_face(scale=1.0, shift=(-270, 0), size=size, seed=1)
    small, m_small = render_face(angle_deg=-8, scale=0.6, shift=(300, 60), size=size, seed=2)
    base = np.array(astronaut_eyes())
    eyes_big = base @ m_big[:, :2].T + m_big[:, 2]
    eyes_small = base @ m_small[:, :2].T + m_small[:, 2]
    # Paste the small face's surroundings onto the big-face photo.
    (cx, cy), d = eyes_small.mean(axis=0), float(np.hypot(*(eyes_small[1] - eyes_small[0])))
    x0, x1 = int(cx - 1.8 * d), int(cx + 1.8 * d)
    y0, y1 = int(cy - 1.6 * d), int(cy + 2.8 * d)
    big[y0:y1, x0:x1] = small[y0:y1, x0:x1]
    return encode(big), eyes_big, eyes_small


# flicker: daily frames of one aligned face with injected exposure and white-balance jitter


def _linear(srgb: np.ndarray) -> np.ndarray:
    x = srgb.astype(np.float64) / 255.0
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)


def _srgb(linear: np.ndarray) -> np.ndarray:
    x = np.clip(linear, 0.0, 1.0)
    out = np.where(x <= 0.0031308, x * 12.92, 1.055 * x ** (1 / 2.4) - 0.055)
    return np.clip(np.rint(out * 255), 0, 255).astype(np.uint8)


TAN = (0.78, 0.70, 0.58)  # linear R, G, B of the skin at the end of the tan, relative to the start


def flicker_sequence(
    days: int, size: tuple[int, int] = (1080, 1350), *, ev: float = 1.0, kelvin_shift: float = 0.15,
    tan: bool = True, jitter: bool = True, seed: int = 0,
) -> list[np.ndarray]:  # fmt: skip
    """RGB frames of the astronaut aligned to the frame contract (eyes 0.28 w apart on the 0.42 h line).

    Over the `days` the face tans gradually (skin only, TAN at the end); each day gets a random exposure
    in ±`ev` EV and a colour-temperature tilt (R * (1 + k), B * (1 - k), k in ±`kelvin_shift`),
    the way daily photos of one person differ."""
    w, h = size
    bgr, _ = render_face(scale=0.28 / EYE_FRACTION * w / min(w, h), size=size, grain=1.0, seed=seed)
    base = _linear(bgr[:, :, ::-1]) * 2**-0.6  # a little under-exposed: +1 EV then mostly fits
    yy, xx = np.mgrid[0:h, 0:w]
    d = 0.28 * w
    cx, cy = w / 2, 0.42 * h + 0.45 * d  # the face's centre, between the eyes and the mouth
    skin = np.clip(1.5 - np.hypot((xx - cx) / (0.9 * d), (yy - cy) / (1.25 * d)) * 1.5, 0, 1)[..., None]
    rng = np.random.default_rng(seed)
    frames = []
    for day in range(days):
        t = day / max(1, days - 1) if tan else 0.0
        lin = base * (1 + skin * t * (np.array(TAN) - 1))
        if jitter:
            k = rng.uniform(-kelvin_shift, kelvin_shift)
            lin = lin * 2 ** rng.uniform(-ev, ev) * np.array([1 + k, 1.0, 1 - k])
        frames.append(_srgb(lin))
    return frames


def face_lab(rgb: np.ndarray) -> np.ndarray:
    """Mean L*, a*, b* of the face region of a frame aligned to the contract."""
    from skimage.color import rgb2lab

    h, w = rgb.shape[:2]
    d = 0.28 * w
    cx, ey = w / 2, 0.42 * h
    region = rgb[round(ey - 0.3 * d) : round(ey + 1.2 * d), round(cx - 0.6 * d) : round(cx + 0.6 * d)]
    return rgb2lab(region).reshape(-1, 3).mean(axis=0)


def flicker(labs: np.ndarray) -> np.ndarray:
    """Mean absolute day-to-day change of L*, a*, b* over a sequence of face_lab values."""
    return np.abs(np.diff(labs, axis=0)).mean(axis=0)


def trend(labs: np.ndarray) -> np.ndarray:
    """The change of L*, a*, b* from the first day to the last along a least-squares line."""
    days = np.arange(len(labs))
    slope = np.polyfit(days, labs, 1)[0]
    return slope * (len(labs) - 1)


# crowds: the astronaut among other people, pasted side by side as in a group photo


@functools.cache
def _strangers() -> list[tuple[np.ndarray, tuple[float, float, float, float]]]:
    """Other people's faces with a box around each: Grace Hopper (matplotlib's sample, public
    domain) and faces of skimage's LFW subset (25 px, shown as out-of-focus people)."""
    import matplotlib.cbook as cbook
    from skimage import data

    hopper = cv2.imread(str(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)))
    people = [(hopper, (180.0, 139.0, 366.0, 325.0))]
    lfw = data.lfw_subset()  # the first 100 are faces, tightly cropped
    for i in (0, 10, 20, 40, 50):
        grey = np.clip(lfw[i] * 255, 0, 255).astype(np.uint8)
        people.append((cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR), (2.0, 2.0, 23.0, 23.0)))
    return people


def _portrait(
    image: np.ndarray, box: tuple[float, float, float, float], face: float, size: tuple[int, int]
) -> np.ndarray:
    """One person's tile of a group photo: the face in `box` scaled to `face` px wide."""
    x0, y0, x1, y1 = box
    k = face / (x1 - x0)
    m = np.array([[k, 0, size[0] / 2 - k * (x0 + x1) / 2], [0, k, 0.45 * size[1] - k * (y0 + y1) / 2]])
    return cv2.warpAffine(image, m, size, flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)


COLUMNS = 3


def crowd_photo(owner_at: int | None = 4, people: int = 6, face: float = 170.0, seed: int = 0) -> FacePhoto:
    """A group photo of `people` in rows of three, the astronaut at index `owner_at` (None: strangers only),
    with her true eyes (zeros without her)."""
    tile = (380, 460)
    strangers = _strangers()
    tiles, eyes = [], np.zeros((2, 2))
    ast_box = (175.0, 76.0, 265.0, 166.0)  # the astronaut's face in her 512 px picture
    for i in range(people):
        if i == owner_at:
            tiles.append(_portrait(astronaut(), ast_box, face, tile))
            k = face / (ast_box[2] - ast_box[0])
            row, col = divmod(i, COLUMNS)
            offset = np.array([(col + 0.5) * tile[0] - k * 220.0, (row + 0.45) * tile[1] - k * 121.0])
            eyes = np.array(astronaut_eyes()) * k + offset
        else:
            image, box = strangers[(i if owner_at is None or i < owner_at else i - 1) % len(strangers)]
            tiles.append(_portrait(image, box, face, tile))
    while len(tiles) % COLUMNS:
        tiles.append(np.full_like(tiles[0], 128))
    rows = [np.concatenate(tiles[r : r + COLUMNS], axis=1) for r in range(0, len(tiles), COLUMNS)]
    pixels = _add_grain(np.concatenate(rows, axis=0), 2.0, seed)
    h, w = pixels.shape[:2]
    return FacePhoto(encode(pixels), tuple(eyes[0]), tuple(eyes[1]), (w, h), np.eye(2, 3))
