"""Command-line errors: one argparse-style line naming the option, exit status 2, no traceback.

(issue 13, section 5). Checked in-process through :func:`geodln.cli.main` and, once, as a real
subprocess for the exit status and the absence of a traceback.
"""

import os
import subprocess
import sys

import pytest

from geodln import cli


def _run(argv, capsys):
    try:
        code = cli.main(argv)
    except SystemExit as exc:
        code = exc.code
    captured = capsys.readouterr()
    return code, captured.err


@pytest.fixture
def afile(tmp_path):
    path = tmp_path / "afile"
    path.write_text("keep me")
    return path


@pytest.mark.parametrize(
    "argv,option,words",
    [
        (["--t-max", "-1"], "--t-max", "> 0"),
        (["--t-max", "nan"], "--t-max", "> 0"),
        (["--rc-depth", "0"], "--rc-depth", ">= 1"),
        (["--seed", "-1"], "--seed", ">= 0"),
        (["--seed", "1.5"], "--seed", "integer"),
        (["--method", "FOO"], "--method", "invalid choice"),
        (["--size", "0"], "--size", ">= 1"),
        (["--depths", "2", "0"], "--depths", ">= 1"),
        (["--fraction", "1.5"], "--fraction", "(0, 1]"),
        (["--rtol", "0"], "--rtol", "> 0"),
        (["--size", "3", "--rank", "5"], "--rank", "exceeds"),
    ],
)
def test_bad_compare_options(tmp_path, capsys, argv, option, words):
    code, err = _run(["compare", "--out", str(tmp_path / "o"), "--quiet", *argv], capsys)
    assert code == 2
    last = err.strip().splitlines()[-1]
    assert last.startswith("geodln compare: error: argument " + option), err
    assert words in last and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_existing_file_as_out(capsys, afile):
    code, err = _run(["compare", "--out", str(afile), "--quiet"], capsys)
    assert code == 2 and "argument --out" in err and "existing file" in err
    assert afile.read_text() == "keep me"
    code, err = _run(["compare", "--out", str(afile / "sub"), "--quiet"], capsys)
    assert code == 2 and "argument --out" in err


def test_unwritable_out(capsys):
    code, err = _run(["compare", "--out", "/proc/geodln-cannot-write-here", "--quiet",
                      "--size", "2", "--rank", "1", "--depths", "2", "--no-rc",
                      "--t-max", "0.1", "--n-grid", "2"], capsys)
    assert code == 2 and "argument --out" in err and "Traceback" not in err


def test_help_shows_defaults(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["compare", "--help"])
    assert info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for default in ("(default: 30)", "(default: RK45)", "(default: 1e-08)", "(default: 0)",
                    "(default: [2, 4, 8])"):
        assert default in text


def test_new_subcommands_inherit_the_error_handling(capsys, tmp_path):
    def add(parser):
        parser.add_argument("--depth", type=int, default=2)
        parser.add_argument("--out", default=str(tmp_path))
        parser.add_argument("--what", default="value")

    def run(args):
        if args.what == "value":
            raise ValueError(f"depth must be an integer >= 1, got {args.depth}")
        raise FileExistsError(17, "File exists", os.path.join(args.out, "x"))

    cli.register_subcommand("dummy-errors", add, run, help="test only")
    try:
        code, err = _run(["dummy-errors", "--depth", "-3"], capsys)
        assert code == 2
        assert err.strip().splitlines()[-1] == (
            "geodln dummy-errors: error: argument --depth: depth must be an integer >= 1, "
            "got -3")
        code, err = _run(["dummy-errors", "--what", "file"], capsys)
        assert code == 2 and "argument --out: File exists" in err
        with pytest.raises(SystemExit):
            cli.main(["dummy-errors", "--help"])
        assert "(default: 2)" in capsys.readouterr().out
    finally:
        del cli.SUBCOMMANDS["dummy-errors"]


def test_real_process_exit_status_and_no_traceback(tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("x")
    proc = subprocess.run([sys.executable, "-m", "geodln", "compare", "--out", str(afile)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith(
        "geodln compare: error: argument --out:")


def test_reproduce_bad_out_and_seed(capsys, afile):
    code, err = _run(["reproduce", "diag3", "--out", str(afile), "--quiet"], capsys)
    assert code == 2 and "argument --out" in err and "Traceback" not in err
    code, err = _run(["reproduce", "diag3", "--seed", "-1", "--quiet"], capsys)
    assert code == 2 and "argument --seed" in err


def test_reproduce_prints_a_short_summary(capsys, monkeypatch, tmp_path):
    from geodln.experiments import reproduce

    claims = {"volume_orders_outcomes": True, "rows": [{"depth": d, "x": 0.1 * d}
                                                       for d in range(40)],
              "ratio": 3.14159265}

    def fake(name, out_dir, **kwargs):
        return {"size": "tiny", "wall_time_s": 1.5, "claims": claims,
                "files": ["summary.json", "summary.csv"]}

    monkeypatch.setattr(reproduce, "run_experiment", fake)
    code = cli.main(["reproduce", "diag3", "--size", "tiny", "--out", str(tmp_path / "r")])
    out = capsys.readouterr().out
    assert code == 0
    lines = out.strip().splitlines()
    assert lines[0] == "geodln reproduce diag3 (tiny): 1.5 s; claims:"
    assert "  volume_orders_outcomes: yes" in lines and "  ratio: 3.142" in lines
    assert "  rows: [40 entries]" in lines
    assert len(lines) <= 6 and all(len(line) <= 100 for line in lines[:-1])
    assert "{" not in out  # not the JSON record
