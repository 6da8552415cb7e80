"""Drawing tracked people: a stable colour per id and short trails."""
import numpy as np

from rmpe.keypoints import COCO_KEYPOINT_COLORS
from rmpe.render import TRACK_PALETTE, Trails, draw_people, track_color
from rmpe.structures import Person


def _person(x, y, track_id=None, keypoint_score=1.0):
    kp = np.zeros((17, 3), np.float32)
    kp[:, 0] = x + 3 * np.arange(17) % 30
    kp[:, 1] = y + 6 * np.arange(17)
    kp[:, 2] = keypoint_score
    return Person(keypoints=kp, box=np.array([x - 10, y - 10, x + 40, y + 110], np.float32), score=1.0,
                  track_id=track_id)


def _pixel(image, person, joint=0):
    x, y = (int(round(float(v))) for v in person.keypoints[joint, :2])
    return tuple(int(v) for v in image[y, x])


def test_same_id_same_colour_in_two_frames():
    a, b = _person(30, 20, track_id=5), _person(150, 40, track_id=5)
    other = _person(90, 30, track_id=6)
    first = draw_people(np.zeros((200, 240, 3), np.uint8), [a], color_by_id=True)
    second = draw_people(np.zeros((200, 240, 3), np.uint8), [other, b], color_by_id=True)
    assert _pixel(first, a) == track_color(5) == _pixel(second, b)
    assert _pixel(second, other) == track_color(6) != track_color(5)
    assert track_color(5) == TRACK_PALETTE[5 % len(TRACK_PALETTE)]
    # without colour by id the joint keeps its own colour
    plain = draw_people(np.zeros((200, 240, 3), np.uint8), [a])
    assert _pixel(plain, a) == tuple(COCO_KEYPOINT_COLORS[0]) != track_color(5)


def test_trails_draw_the_last_centres():
    trails = Trails(3)
    canvases = []
    for t in range(4):
        # keypoints score 0: the trail follows the box centre, (x + 15, y + 50)
        p = _person(20 + 40 * t, 40, track_id=2, keypoint_score=0.0)
        canvases.append(trails.draw(np.zeros((200, 240, 3), np.uint8), [p]))
    colour = track_color(2)
    last = canvases[-1]
    # centres at x = 35, 75, 115, 155 (y = 90); the last 3 are joined, the oldest is gone
    assert tuple(int(v) for v in last[90, 95]) == colour
    assert tuple(int(v) for v in last[90, 135]) == colour
    assert not last[90, 50].any()
    assert not canvases[0].any()  # a single point is no trail yet
    # an untracked person leaves no trail
    quiet = Trails(3)
    for t in range(3):
        img = quiet.draw(np.zeros((200, 240, 3), np.uint8), [_person(20 + 40 * t, 40, keypoint_score=0.0)])
    assert not img.any()
