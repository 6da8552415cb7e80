"""rmpe.outputs: the video appears under its name only when closed; images are written whole."""
import os

import cv2
import numpy as np
import pytest

from rmpe.errors import RMPEError
from rmpe.outputs import OutputWorker, partial_video_path
from rmpe.sources import Frame


def test_video_written_under_partial_name_then_renamed(tmp_path):
    out = tmp_path / "o.mp4"
    out.write_bytes(b"an earlier rendering")
    worker = OutputWorker(video_path=str(out), fps=5, size=(64, 48))
    for i in range(3):
        worker.put(Frame(i, np.full((48, 64, 3), 40 * i, np.uint8)), [])
    assert out.read_bytes() == b"an earlier rendering"  # untouched until the new video is complete
    worker.close()
    assert not os.path.exists(partial_video_path(str(out)))
    cap = cv2.VideoCapture(str(out))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 3
    cap.release()
    assert partial_video_path("a/o.mp4") == "a/o.mp4.partial.mp4"


def test_bad_video_name_is_one_error(tmp_path, capfd):
    with pytest.raises(RMPEError, match=r"must end in \.mp4"):
        OutputWorker(video_path=str(tmp_path / "noext"), fps=5, size=(64, 48))
    assert "WARN" not in capfd.readouterr().err
    assert os.listdir(tmp_path) == []


def test_single_image_file_and_folder(tmp_path):
    image = np.full((20, 30, 3), 200, np.uint8)
    worker = OutputWorker(image_file=str(tmp_path / "NAME.png"))
    worker.put(Frame(0, image, "000000000785.jpg"), [], image_id="000000000785.jpg")
    worker.close()
    assert os.listdir(tmp_path) == ["NAME.png"]
    assert (cv2.imread(str(tmp_path / "NAME.png")) == 200).all()
    worker = OutputWorker(image_dir=str(tmp_path / "r"))
    worker.put(Frame(0, image, "a.jpg"), [])
    worker.close()
    assert os.listdir(tmp_path / "r") == ["a.jpg"]
