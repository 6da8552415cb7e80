"""rmpe-synth --video with --scenario: the scenario reaches the files; a bad one is a usage error."""
from __future__ import annotations

import json

from rmpe.cli.synth import main as synth_main


def test_scenario_flag_writes_that_scenario(tmp_path, capsys):
    code = synth_main(["--out", str(tmp_path / "c.mp4"), "--video", "1", "--size", "160x120", "--people", "4",
                       "--scenario", "crossing", "--seed", "3", "--quiet"])
    assert code == 0
    assert "wrote a 10-frame crossing video (160x120, 10 fps, 4 people)" in capsys.readouterr().out
    data = json.loads((tmp_path / "c.annotations.json").read_text())
    assert data["info"]["scenario"] == "crossing"
    # crossing: everybody walks (no arm-waving stander), each annotation with a track id and a frame.
    assert {a["pose_family"] for a in data["annotations"]} == {"walking"}
    assert all(0 <= a["track_id"] < 4 for a in data["annotations"])
    assert [im["frame_index"] for im in data["images"]] == list(range(10))


def test_default_scenario_is_lanes(tmp_path, capsys):
    assert synth_main(["--out", str(tmp_path / "v"), "--video", "0.2", "--size", "96x64", "--quiet"]) == 0
    data = json.loads((tmp_path / "v" / "annotations.json").read_text())
    assert data["info"]["scenario"] == "lanes"


def test_unknown_scenario_is_one_line(tmp_path, capsys):
    code = synth_main(["--out", str(tmp_path / "x.mp4"), "--video", "1", "--scenario", "parade"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert err[0].startswith("rmpe-synth: error: ") and "parade" in err[0] and "crossing" in err[0]
    assert not (tmp_path / "x.mp4").exists()
