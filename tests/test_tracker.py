import numpy as np

from ferops.recording.tracker import MEMORY_S, PersonTracker
from ferops.runtime.faces import iou

P = np.eye(7)


def test_iou():
    assert iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert iou((0, 0, 10, 10), (20, 20, 5, 5)) == 0.0
    assert abs(iou((0, 0, 10, 10), (5, 0, 10, 10)) - 50 / 150) < 1e-9


def test_identity_kept_while_moving_and_new_face_gets_new_id():
    t = PersonTracker(alpha=0.5)
    a = t.update([(100, 100, 50, 50)], P[3][None], 0.0)
    b = t.update([(400, 100, 50, 50), (104, 102, 50, 50)], np.stack([P[4], P[4]]), 0.04)
    assert b[1].id == a[0].id and b[0].id != a[0].id
    assert np.allclose(b[1].probs, 0.5 * P[3] + 0.5 * P[4]), "moving average across frames"
    assert np.allclose(b[0].probs, P[4]), "a new face starts from its own prediction"


def test_a_face_back_where_a_person_was_lost_takes_her_id_again():
    """Two people side by side; the left one is not found for 6 s (a turn, someone passing), then her
    face comes back a little lower and twice the size (another expression, YuNet's box jumps)."""
    t = PersonTracker()
    left, right = (100, 200, 100, 100), (300, 200, 100, 100)
    for k in range(51):  # both for 2 s
        first = t.update([left, right], np.stack([P[3], P[6]]), k / 25)
    for k in range(51, 201):  # 6 s at 25 FPS with only the right one
        (r,) = t.update([right], P[6][None], k / 25)
        assert r.id == first[1].id
    back = t.update([right, (70, 230, 200, 200)], np.stack([P[6], P[0]]), 8.04)
    assert [b.id for b in back] == [first[1].id, first[0].id]
    assert np.allclose(back[1].probs, P[0]), "after a long gap the average restarts from the new face"


def test_two_faces_never_share_an_id_and_a_far_face_is_someone_else():
    t = PersonTracker()
    for k in range(51):  # seen for 2 s
        (a,) = t.update([(100, 200, 100, 100)], P[:1], k / 25)
    t.update([], P[:0], 3.0)
    # Two faces come back near where she was lost: the nearer one is her, the other a new person.
    back = t.update([(260, 200, 100, 100), (120, 210, 100, 100)], P[:2], 4.0)
    assert back[1].id == a.id and back[0].id != a.id
    # A face 3 sides away from anyone lost is a new person.
    t.update([], P[:0], 5.0)
    (far,) = t.update([(500, 200, 100, 100)], P[:1], 5.5)
    assert far.id not in (a.id, back[0].id)


def test_a_person_is_forgotten_after_the_memory_and_alpha_one_is_no_smoothing():
    t = PersonTracker(alpha=1.0, memory_s=3.0)
    (a,) = t.update([(0, 0, 40, 40)], P[:1], 0.0)
    assert np.allclose(t.update([(1, 1, 40, 40)], P[1:2], 0.04)[0].probs, P[1])
    for k in range(2, 51):
        assert t.update([(1, 1, 40, 40)], P[:1], k / 25)[0].id == a.id
    assert t.update([(1, 1, 40, 40)], P[:1], 4.9)[0].id == a.id, "within the memory"
    assert t.update([(1, 1, 40, 40)], P[:1], 8.0)[0].id != a.id, "3.1 s unseen: forgotten"
    assert MEMORY_S >= 5, "the default suits seated people: several seconds"


def test_a_face_seen_only_for_a_moment_is_forgotten_soon_and_never_takes_a_persons_face():
    """YuNet sometimes finds a part of a face as a face for a few frames, beside the person's own box.
    When she comes back after looking away, her face overlaps that part's box better than her own last
    box: the part, seen for under CONFIRM_S, must be forgotten by then, so she keeps her id."""
    t = PersonTracker()
    her = (92, 169, 72, 71)
    for k in range(100):  # 4 s
        (mine,) = t.update([her], P[:1], k / 25)
    for k in range(100, 117):  # 0.7 s of a second box: the right half of her face
        mine, part = t.update([her, (132, 182, 66, 65)], P[:2], k / 25)
    assert part.id != mine.id
    for k in range(117, 140):
        t.update([her], P[:1], k / 25)
    back = (102, 175, 107, 106)  # 4 s later, found larger: it overlaps the part more than her last box
    assert iou(back, (132, 182, 66, 65)) > iou(back, her) >= 0.3
    (again,) = t.update([back], P[:1], 9.6)
    assert again.id == mine.id
