"""The owner's face in a crowd: chosen by the faceprint of earlier frames, or sent to review."""

from __future__ import annotations

import numpy as np
import pytest

from picturetime_aligner import Aligner
from picturetime_aligner.faceprint import EAGER_LOOKS, RECENT_LOOKS, Candidate, Faceprint, choose_owner
from tests.support import faces


@pytest.fixture(scope="module")
def owner_faceprint(aligner: Aligner) -> Faceprint:
    """Two earlier daily frames of the owner (the astronaut), as the worker would have recorded them."""
    faceprint = Faceprint()
    for day in range(2):
        photo = faces.face_photo(angle_deg=3 * day, scale=1.0 + 0.15 * day, seed=day)
        result = aligner.align(photo.jpeg, {"faceprint": faceprint.reference()})
        assert faceprint.add_aligned(f"day{day}", result)  # as the worker does after each frame
    return faceprint


def test_the_owner_among_five_other_people_is_the_face_aligned(
    aligner: Aligner, owner_faceprint: Faceprint
) -> None:
    crowd = faces.crowd_photo(owner_at=4)
    result = aligner.align(crowd.jpeg, {"faceprint": owner_faceprint.reference()})
    assert result.status == "aligned"
    assert result.quality["faces"] == 6
    assert result.quality["choice"] == "faceprint"
    assert not result.quality.get("ambiguous_face")
    assert np.abs(np.array([result.left_eye, result.right_eye]) - crowd.eyes).max() < 2.0
    assert result.confidence > 0.8
    distances = sorted(c["distance"] for c in result.quality["candidates"])
    assert distances[0] < 0.3 and distances[1] > 0.6  # the owner, then the likeliest stranger


def test_the_owner_is_found_wherever_they_stand(aligner: Aligner, owner_faceprint: Faceprint) -> None:
    crowd = faces.crowd_photo(owner_at=0, seed=3)
    result = aligner.align(crowd.jpeg, {"faceprint": owner_faceprint.reference()})
    assert result.quality["choice"] == "faceprint"
    assert np.abs(np.array([result.left_eye, result.right_eye]) - crowd.eyes).max() < 2.0


def test_a_crowd_with_no_earlier_frames_goes_to_review_with_its_candidates(aligner: Aligner) -> None:
    result = aligner.align(faces.crowd_photo(owner_at=4).jpeg, {"faceprint": None})
    assert result.status == "aligned"  # a frame to look at, flagged: the review queue asks the owner
    assert result.quality["ambiguous_face"] is True
    assert result.confidence <= 0.3
    assert len(result.quality["candidates"]) == 6
    for candidate in result.quality["candidates"]:
        x0, y0, x1, y1 = candidate["box"]
        assert 0 <= x0 < x1 <= 1140 and 0 <= y0 < y1 <= 920


def test_a_crowd_of_strangers_goes_to_review_even_with_a_faceprint(
    aligner: Aligner, owner_faceprint: Faceprint
) -> None:
    result = aligner.align(faces.crowd_photo(owner_at=None).jpeg, {"faceprint": owner_faceprint.reference()})
    assert result.quality["ambiguous_face"] is True
    assert min(c["distance"] for c in result.quality["candidates"]) > 0.6


def test_a_selfie_gives_its_embedding_only_when_asked(aligner: Aligner) -> None:
    photo = faces.face_photo(seed=5)
    assert aligner.align(photo.jpeg).embedding is None
    asked = aligner.align(photo.jpeg, {"faceprint": None})
    assert asked.embedding is not None and len(asked.embedding) == 128
    assert "candidates" not in asked.quality


def _candidate(x: float, y: float, d: float, embedding: list[float] | None = None) -> Candidate:
    eyes = np.array([[x - d / 2, y], [x + d / 2, y]])
    return Candidate(eyes, (x - d, y - d, x + d, y + d), None if embedding is None else np.array(embedding))


def test_without_embeddings_the_owners_usual_size_and_place_decide() -> None:
    reference = {"embedding": None, "mid": [0.25, 0.4], "eye_distance": 0.1}
    usual, other = _candidate(250, 400, 100), _candidate(700, 420, 95)
    assert choose_owner([other, usual], reference, (1000, 1000)) == (usual, "geometry")
    # Two faces equally near the usual place: a guess, for review.
    left, right = _candidate(200, 400, 100), _candidate(300, 400, 100)
    assert choose_owner([left, right], reference, (1000, 1000))[1] == "ambiguous"


def test_with_nothing_to_compare_only_a_dominant_face_is_chosen() -> None:
    big, small = _candidate(500, 400, 200), _candidate(800, 400, 60)
    assert choose_owner([small, big], None, (1000, 1000)) == (big, "largest")
    assert (
        choose_owner([_candidate(300, 400, 100), _candidate(700, 400, 90)], None, (1000, 1000))[1]
        == "ambiguous"
    )


def test_two_faces_like_the_owner_are_told_apart_by_place_or_not_at_all() -> None:
    owner = np.zeros(128)
    near = _candidate(250, 400, 100, [0.01] * 128)
    twin = _candidate(700, 400, 100, [0.012] * 128)
    at_usual_place = {"embedding": owner.tolist(), "mid": [0.25, 0.4], "eye_distance": 0.1}
    assert choose_owner([twin, near], at_usual_place, (1000, 1000)) == (near, "geometry")
    between = {"embedding": owner.tolist(), "mid": [0.475, 0.4], "eye_distance": 0.1}
    assert choose_owner([twin, near], between, (1000, 1000))[1] == "ambiguous"


def test_the_faceprint_keeps_one_entry_per_photo_and_the_recent_ones() -> None:
    faceprint = Faceprint()
    for i in range(RECENT_LOOKS + 5):
        faceprint.add(f"p{i}", np.full(128, i, float), (0.5, 0.4), 0.1)
    faceprint.add(f"p{RECENT_LOOKS + 4}", np.full(128, 1.0), (0.5, 0.4), 0.1)  # redelivered: replaced
    assert len(faceprint.looks) == RECENT_LOOKS
    assert faceprint.looks[0]["photo_id"] == "p5"
    again = Faceprint.from_json(faceprint.to_json())
    assert again.looks == faceprint.looks
    reference = again.reference()
    assert reference is not None and len(reference["embedding"]) == 128


def test_a_malformed_stored_faceprint_is_read_as_what_it_holds() -> None:
    stored = {
        "looks": [
            {"photo_id": "a", "mid": [0.5, 0.4], "eye_distance": 0.1, "embedding": [0.0] * 3},
            {"x": 1},
            "junk",
        ]
    }
    faceprint = Faceprint.from_json(stored)
    assert len(faceprint.looks) == 1 and "embedding" not in faceprint.looks[0]
    assert Faceprint.from_json("not a faceprint").looks == []


def test_a_selfie_costs_no_embedding_on_most_days_but_a_crowd_is_still_compared(
    aligner: Aligner, owner_faceprint: Faceprint
) -> None:
    reference = owner_faceprint.reference()
    selfie = aligner.align(faces.face_photo(seed=6).jpeg, {"faceprint": reference, "embed": False})
    assert selfie.status == "aligned" and selfie.embedding is None
    crowd = faces.crowd_photo(owner_at=2, seed=4)
    result = aligner.align(crowd.jpeg, {"faceprint": reference, "embed": False})
    assert result.quality["choice"] == "faceprint"
    assert np.abs(np.array([result.left_eye, result.right_eye]) - crowd.eyes).max() < 2.0


def test_the_faceprint_asks_for_every_look_at_first_then_for_one_day_in_seven() -> None:
    faceprint = Faceprint()
    assert all(faceprint.wants_look(f"photo{i}") for i in range(20))
    for i in range(EAGER_LOOKS):
        faceprint.add(f"p{i}", np.zeros(128), (0.5, 0.4), 0.1)
    asked = sum(faceprint.wants_look(f"photo{i}") for i in range(7000))
    assert 800 < asked < 1200
    assert faceprint.wants_look("photo1") == faceprint.wants_look("photo1")  # the same photo, the same answer


def test_eyes_the_owner_clicked_in_a_crowd_give_their_own_embedding(
    aligner: Aligner, owner_faceprint: Faceprint
) -> None:
    crowd = faces.crowd_photo(owner_at=4, seed=5)
    hints = {"left_eye": list(crowd.left_eye), "right_eye": list(crowd.right_eye), "faceprint": None}
    result = aligner.align(crowd.jpeg, hints)
    assert result.quality.get("manual") is True and result.embedding is not None
    reference = owner_faceprint.reference()
    assert reference is not None
    assert np.linalg.norm(np.array(result.embedding) - np.array(reference["embedding"])) < 0.3
    assert Faceprint.from_json(owner_faceprint.to_json()).add_aligned(
        "clicked", result
    )  # the worker keeps it
