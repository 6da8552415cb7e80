"""rmpe.sources: skip and truncation notices are catchable warnings; OpenCV stays quiet while probing."""
import warnings

import cv2
import numpy as np
import pytest

from rmpe.errors import RMPEError
from rmpe.sources import ImageSource, SourceWarning, VideoSource, opencv_quiet


def _truncated_avi(path, frames=20):
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    for i in range(frames):
        w.write(np.random.default_rng(i).integers(0, 255, (48, 64, 3), dtype=np.uint8))
    w.release()
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def test_truncated_video_warns_with_counts(tmp_path):
    video = tmp_path / "cut.avi"
    _truncated_avi(video)
    src = VideoSource(str(video))
    with pytest.warns(SourceWarning, match=r"cut\.avi: decoded \d+ of 20 frames"):
        n = sum(1 for _ in src)
    assert 0 < n < 20


def test_unreadable_image_in_folder_warns_and_is_counted(tmp_path):
    cv2.imwrite(str(tmp_path / "a.jpg"), np.zeros((8, 8, 3), np.uint8))
    (tmp_path / "b.jpg").write_bytes(b"garbage")
    src = ImageSource(str(tmp_path))
    with pytest.warns(SourceWarning, match="skipping unreadable image .*b.jpg"):
        names = [f.name for f in src]
    assert names == ["a.jpg"] and src.skipped == [str(tmp_path / "b.jpg")]
    assert issubclass(SourceWarning, UserWarning)  # existing filters on UserWarning still apply
    with warnings.catch_warnings():
        warnings.simplefilter("error", SourceWarning)
        with pytest.raises(SourceWarning):
            list(ImageSource(str(tmp_path)))


def test_missing_webcam_is_one_error_and_logging_is_restored(capfd):
    level = cv2.utils.logging.getLogLevel()
    with pytest.raises(RMPEError, match="cannot open webcam 7"):
        VideoSource(7)
    assert "WARN" not in capfd.readouterr().err
    assert cv2.utils.logging.getLogLevel() == level
    with pytest.raises(ZeroDivisionError), opencv_quiet():
        1 / 0
    assert cv2.utils.logging.getLogLevel() == level
