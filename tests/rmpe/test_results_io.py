"""rmpe.results_io: the partial JSON Lines file, its reading, and recovery after a hard kill."""
import json
import shutil

import numpy as np
import pytest

from rmpe.errors import RMPEError
from rmpe.results_io import IncrementalResults, final_path, load_partial, recover_partial
from rmpe.structures import FrameResult, Person


def _person(seed):
    rng = np.random.default_rng(seed)
    kp = np.concatenate([rng.uniform(0, 100, (17, 2)), rng.uniform(0, 1, (17, 1))], 1).astype(np.float32)
    return Person(kp, np.array([1, 2, 30, 40], np.float32), 0.5 + seed / 10)


@pytest.mark.parametrize("fmt", ["alphapose", "coco", "openpose"])
def test_recover_equals_finalize(tmp_path, fmt):
    res = IncrementalResults(str(tmp_path / "run.json"), fmt)
    for i in range(4):
        res.write(FrameResult(i, [_person(j) for j in range(i)], image_id=f"{i:012d}.jpg"))
    killed = tmp_path / "copy.json.partial.jsonl"
    shutil.copy(res.partial, killed)
    res.finalize()
    done = recover_partial(str(killed))
    assert (done.path, done.frames, done.torn) == (str(tmp_path / "copy.json"), 4, 0)
    assert (tmp_path / "copy.json").read_bytes() == (tmp_path / "run.json").read_bytes()
    assert killed.exists()  # the partial file is the user's input: kept


def test_torn_and_broken_last_lines_are_skipped_and_counted(tmp_path):
    good = '{"frame": 0, "image_id": 0, "records": [{"a": 1}]}\n{"frame": 1, "image_id": 1, "records": []}\n'
    for tail in ('{"frame": 2, "rec', '{"frame": 2, "rec\n', "\x00\x00\x00\n"):
        p = tmp_path / "x.json.partial.jsonl"
        p.write_text(good + tail)
        lines, torn = load_partial(str(p))
        assert [l["frame"] for l in lines] == [0, 1] and torn == 1, tail
    p.write_text(good)
    assert load_partial(str(p))[1] == 0
    done = recover_partial(str(p), str(tmp_path / "out" / "r.json"))
    assert json.loads((tmp_path / "out" / "r.json").read_text()) == [{"a": 1}]
    assert done.frames == 2


def test_not_a_partial_file_is_refused(tmp_path):
    p = tmp_path / "x.json.partial.jsonl"
    p.write_text('{"frame": 0, "records": []}\nnot json\n{"frame": 2, "records": []}\n')
    with pytest.raises(RMPEError, match="line 2: not valid JSON"):
        load_partial(str(p))
    p.write_text('[1, 2, 3]\n{"frame": 1, "records": []}\n')
    with pytest.raises(RMPEError, match="line 1: not a frame line"):
        load_partial(str(p))
    with pytest.raises(RMPEError, match="not found"):
        load_partial(str(tmp_path / "missing.partial.jsonl"))
    q = tmp_path / "results.jsonl"
    q.write_text('{"frame": 0, "records": []}\n')
    with pytest.raises(RMPEError, match="--json"):
        recover_partial(str(q))
    assert not (tmp_path / "x.json").exists()


def test_final_path():
    assert final_path("a/r.json.partial.jsonl") == "a/r.json"
    assert final_path("r.json") is None and final_path(".partial.jsonl") is None
