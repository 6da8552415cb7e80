"""rmpe.io: output-path checks before the work starts."""
import os

import pytest

from rmpe.errors import RMPEError
from rmpe.io import check_output_path


@pytest.fixture
def video(tmp_path):
    f = tmp_path / "v.mp4"
    f.write_bytes(b"not really a video, but an input the user owns")
    return f


def test_output_equal_to_input_is_refused(tmp_path, video):
    before = video.read_bytes()
    with pytest.raises(RMPEError, match=r"^--out .*v\.mp4 is the input"):
        check_output_path(video, inputs=[video])
    link = tmp_path / "sym.mp4"
    link.symlink_to(video)
    with pytest.raises(RMPEError, match="is the input"):
        check_output_path(link, inputs=[video])
    hard = tmp_path / "hard.mp4"
    os.link(video, hard)
    with pytest.raises(RMPEError, match=r"^--json .*hard\.mp4 is the input"):
        check_output_path(hard, inputs=[str(video)], flag="--json")
    # through a relative path with '..' too
    rel = os.path.relpath(video.parent / "sub" / ".." / "v.mp4")
    with pytest.raises(RMPEError, match="is the input"):
        check_output_path(rel, inputs=[video])
    assert video.read_bytes() == before


def test_output_folder_equal_to_or_inside_input_folder(tmp_path):
    d = tmp_path / "imgs"
    d.mkdir()
    with pytest.raises(RMPEError, match=r"imgs is the input folder .*choose a folder outside it"):
        check_output_path(d, inputs=[d], kind="folder")
    with pytest.raises(RMPEError, match="inside the input folder"):
        check_output_path(d / "rendered", inputs=[d], kind="folder")
    link = tmp_path / "alias"
    link.symlink_to(d)
    with pytest.raises(RMPEError, match="is the input folder"):
        check_output_path(link, inputs=[d], kind="folder")
    assert not (d / "rendered").exists()
    # a sibling folder whose name starts like the input's is fine
    assert check_output_path(tmp_path / "imgs2", inputs=[d], kind="folder") == str(tmp_path / "imgs2")
    assert not (tmp_path / "imgs2").exists()  # checked, not created
    # a new results file in the input folder destroys nothing
    check_output_path(d / "results.json", inputs=[d], flag="--json")


def test_file_and_folder_kinds(tmp_path):
    d = tmp_path / "adir"
    d.mkdir()
    with pytest.raises(RMPEError, match=r"^--json .*adir is a folder; give a file name"):
        check_output_path(d, flag="--json")
    with pytest.raises(RMPEError, match="is a folder"):
        check_output_path(str(tmp_path / "new") + "/", flag="--json")
    f = tmp_path / "afile"
    f.write_text("x")
    with pytest.raises(RMPEError, match=r"^--workdir .*afile is a file; give a folder"):
        check_output_path(f, kind="folder", flag="--workdir")
    with pytest.raises(RMPEError, match="not a regular file"):
        check_output_path("/dev/null", flag="--json")
    with pytest.raises(ValueError):
        check_output_path(f, kind="dir")


def test_unwritable_or_impossible_location(tmp_path):
    with pytest.raises(RMPEError, match=r"^--out /proc/nope/x\.mp4: cannot write in the nearest existing folder /proc"):
        check_output_path("/proc/nope/x.mp4")
    f = tmp_path / "afile"
    f.write_text("x")
    with pytest.raises(RMPEError, match=r"afile is a file, not a folder"):
        check_output_path(f / "sub" / "out.json", flag="--json")
    assert f.read_text() == "x"


def test_nothing_is_created_and_existing_outputs_allowed(tmp_path):
    out = tmp_path / "a" / "b" / "r.json"
    assert check_output_path(out, flag="--json") == str(out)
    assert os.listdir(tmp_path) == []  # no folder made, the probe file is gone
    out.parent.mkdir(parents=True)
    out.write_text("[]")  # an earlier result may be replaced
    check_output_path(out, inputs=[None, 0, tmp_path / "missing.mp4"], flag="--json")
