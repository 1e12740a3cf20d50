"""The ``geodln`` command line: ``compare`` end to end at tiny size, the subcommand registry."""

import csv
import json

import pytest

from geodln import Trajectory, cli


def test_compare_end_to_end(tmp_path, capsys):
    out = tmp_path / "cmp"
    code = cli.main([
        "compare", "--size", "4", "--rank", "1", "--depths", "2", "3", "--t-max", "5",
        "--n-grid", "8", "--rc-t-max", "100", "--rc-loss-tol", "1e-2", "--out", str(out),
        "--quiet",
    ])
    assert code == 0
    printed = capsys.readouterr().out
    assert "max rel dev" in printed and "Razin-Cohen" in printed
    with open(out / "compare.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["depth"] for r in rows] == ["2", "3", "3"]
    assert all(float(r["max_rel_deviation"]) < 1e-5 for r in rows)
    data = json.loads((out / "compare.json").read_text())
    assert len(data["rows"]) == 3 and data["settings"]["size"] == 4
    assert (out / "compare.png").read_bytes()[:4] == b"\x89PNG"
    up = Trajectory.load(out / "trajectories" / "run0_N2_upstairs.npz")
    assert up.mode == "upstairs" and up.shape == (4, 4)


def test_compare_bad_arguments_exit_code(tmp_path, capsys):
    code = cli.main(["compare", "--size", "3", "--rank", "5", "--out", str(tmp_path), "--quiet"])
    assert code == 2
    assert "--rank" in capsys.readouterr().err


def test_register_subcommand(capsys):
    calls = []

    def add(parser):
        parser.add_argument("--value", type=int, default=1)

    def run(args):
        calls.append(args.value)
        return 0

    cli.register_subcommand("dummy-test", add, run, help="test only")
    try:
        assert cli.main(["dummy-test", "--value", "7"]) == 0
        assert calls == [7]
        with pytest.raises(SystemExit) as info:
            cli.main(["--help"])
        assert info.value.code == 0
        assert "dummy-test" in capsys.readouterr().out
    finally:
        del cli.SUBCOMMANDS["dummy-test"]
    with pytest.raises(ValueError):
        cli.register_subcommand("x", None, run)
