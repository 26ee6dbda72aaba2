import numpy as np

from ferops.apps.smoothing import FaceTracker, iou


def test_iou():
    assert iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert iou((0, 0, 10, 10), (20, 20, 5, 5)) == 0.0
    assert abs(iou((0, 0, 10, 10), (5, 0, 10, 10)) - 50 / 150) < 1e-9


def test_identity_kept_while_moving_and_new_face_gets_new_id():
    t = FaceTracker(alpha=0.5)
    p1, p2 = np.eye(7)[3], np.eye(7)[4]
    a = t.update([(100, 100, 50, 50)], p1[None])
    b = t.update([(400, 100, 50, 50), (104, 102, 50, 50)], np.stack([p2, p2]))
    assert b[1].id == a[0].id and b[0].id != a[0].id
    assert np.allclose(b[1].probs, 0.5 * p1 + 0.5 * p2), "moving average across frames"
    assert np.allclose(b[0].probs, p2), "a new face starts from its own prediction"


def test_alpha_one_is_no_smoothing_and_lost_faces_expire():
    t = FaceTracker(alpha=1.0, max_missed=1)
    first = t.update([(0, 0, 40, 40)], np.eye(7)[:1])
    assert np.allclose(t.update([(1, 1, 40, 40)], np.eye(7)[1:2])[0].probs, np.eye(7)[1])
    t.update([], np.zeros((0, 7)))
    t.update([], np.zeros((0, 7)))
    assert t.update([(1, 1, 40, 40)], np.eye(7)[:1])[0].id != first[0].id
