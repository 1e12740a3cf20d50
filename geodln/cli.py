"""Command-line interface: ``geodln <subcommand>`` (also ``python -m geodln``).

Subcommands live in a small registry, :data:`SUBCOMMANDS` (name -> :class:`Subcommand`).
To add one (e.g. ``reproduce``) from another module::

    from geodln.cli import register_subcommand

    def add_arguments(parser):          # an argparse.ArgumentParser for the subcommand
        parser.add_argument("--out", default="results/reproduce")

    def run(args):                      # the parsed argparse.Namespace; return an exit code
        ...
        return 0

    register_subcommand("reproduce", add_arguments, run, help="reproduce a paper figure")

and list that module in :data:`SUBCOMMAND_MODULES`, which :func:`main` imports before it builds
the parser (so the registration runs).

**Errors.** Every subcommand gets the same handling: options are checked by their argparse
``type=`` (the helpers :func:`positive_int`, :func:`nonnegative_int`, :func:`positive_float`,
:func:`fraction`, :func:`output_dir` are here for new subcommands); a ``ValueError`` or
``OSError`` raised while the subcommand runs is reported argparse-style on one line, naming the
option it is about (``geodln compare: error: argument --rc-depth: ...``), with exit status 2
and no traceback. ``--help`` shows every default.

Built in: ``geodln compare`` — the package's main job. It runs the upstairs (factor) and the
downstairs (end-to-end, metric :math:`g^N`) gradient flows from the same balanced start on a
random low-rank completion problem at several depths and on the Razin–Cohen 2×2 problem
(RC20, Fig. 1), prints a table (deviation, wall time, RHS evaluations, final losses) and writes
``compare.csv``, ``compare.json``, ``compare.png`` and the trajectories (``.npz``) to ``--out``.
"""

import argparse
import csv
import importlib
import io
import json
import os
import re
import sys
from dataclasses import dataclass

import numpy as np

__all__ = [
    "main",
    "register_subcommand",
    "SUBCOMMANDS",
    "SUBCOMMAND_MODULES",
    "Subcommand",
    "positive_int",
    "nonnegative_int",
    "positive_float",
    "fraction",
    "output_dir",
    "format_summary",
]


@dataclass
class Subcommand:
    """A registered subcommand: how to add its arguments and how to run it.

    Parameters
    ----------
    name : str
        The word after ``geodln`` on the command line.
    add_arguments : callable
        ``add_arguments(parser)`` adds its options to an ``argparse.ArgumentParser``.
    run : callable
        ``run(args) -> int or None`` executes it (the exit code; None means 0).
    help : str
        One-line description shown by ``geodln --help``.

    Examples
    --------
    >>> from geodln.cli import Subcommand
    >>> sub = Subcommand("hello", lambda parser: None, lambda args: 0, "say hello")
    >>> sub.name, sub.run(None)
    ('hello', 0)
    """

    name: str
    add_arguments: object
    run: object
    help: str = ""


#: name -> Subcommand
SUBCOMMANDS = {}

#: modules imported by :func:`main` so that they can register subcommands
SUBCOMMAND_MODULES = ["geodln.experiments.reproduce"]


def register_subcommand(name, add_arguments, run, help=""):
    """Register ``geodln <name>``.

    Parameters
    ----------
    name : str
        Subcommand name.
    add_arguments : callable
        ``add_arguments(parser)`` adds the subcommand's options to an ``ArgumentParser``.
    run : callable
        ``run(args) -> int`` executes it (exit code; None means 0).
    help : str
        One-line description.

    Raises
    ------
    ValueError
        With the message ``add_arguments and run must be callables``.

    Examples
    --------
    >>> from geodln.cli import SUBCOMMANDS, main, register_subcommand
    >>> def add_arguments(parser):
    ...     parser.add_argument("--who", default="world")
    >>> def run(args):
    ...     print(f"hello {args.who}")
    >>> register_subcommand("hello-doc", add_arguments, run, help="say hello")
    >>> main(["hello-doc", "--who", "geodln"])
    hello geodln
    0
    >>> del SUBCOMMANDS["hello-doc"]
    """
    if not callable(add_arguments) or not callable(run):
        raise ValueError("add_arguments and run must be callables")
    SUBCOMMANDS[name] = Subcommand(name, add_arguments, run, help)


# ---------------------------------------------------------------------------------------------
# argument types: argparse reports their errors as "argument --flag: <message>", exit status 2
# ---------------------------------------------------------------------------------------------
def _number(text, convert, kind):
    try:
        value = convert(text)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"must be {kind}, got {text!r}") from None
    if isinstance(value, float) and not np.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be {kind}, got {text!r}")
    return value


def positive_int(text):
    """Argparse type: an integer >= 1.

    Parameters
    ----------
    text : str
        The command-line value.

    Returns
    -------
    value : int

    Raises
    ------
    argparse.ArgumentTypeError
        If ``text`` is not an integer >= 1 (argparse turns it into a usage error).

    Examples
    --------
    >>> positive_int("3")
    3
    """
    value = _number(text, int, "an integer >= 1")
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text!r}")
    return value


def nonnegative_int(text):
    """Argparse type: an integer >= 0 (e.g. a seed).

    Parameters
    ----------
    text : str
        The command-line value.

    Returns
    -------
    value : int

    Raises
    ------
    argparse.ArgumentTypeError
        If ``text`` is not an integer >= 0.

    Examples
    --------
    >>> nonnegative_int("0")
    0
    """
    value = _number(text, int, "an integer >= 0")
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {text!r}")
    return value


def positive_float(text):
    """Argparse type: a finite number > 0.

    Parameters
    ----------
    text : str
        The command-line value.

    Returns
    -------
    value : float

    Raises
    ------
    argparse.ArgumentTypeError
        If ``text`` is not a finite number > 0.

    Examples
    --------
    >>> positive_float("1e-3")
    0.001
    """
    value = _number(text, float, "a finite number > 0")
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text!r}")
    return value


def fraction(text):
    """Argparse type: a number in (0, 1].

    Parameters
    ----------
    text : str
        The command-line value.

    Returns
    -------
    value : float

    Raises
    ------
    argparse.ArgumentTypeError
        If ``text`` is not a number in (0, 1].

    Examples
    --------
    >>> fraction("0.5")
    0.5
    """
    value = _number(text, float, "a number in (0, 1]")
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"must be a number in (0, 1], got {text!r}")
    return value


def output_dir(text):
    """Argparse type: a folder that exists or can be created (not an existing file).

    Parameters
    ----------
    text : str
        The command-line value.

    Returns
    -------
    path : str

    Raises
    ------
    argparse.ArgumentTypeError
        If ``text`` is empty, an existing file, below an existing file, or below a folder the
        user cannot write.

    Examples
    --------
    >>> import tempfile
    >>> output_dir(tempfile.mkdtemp()) != ""
    True
    """
    if not text:
        raise argparse.ArgumentTypeError("must be a folder path, got ''")
    path = os.path.abspath(text)
    if os.path.exists(path) and not os.path.isdir(path):
        raise argparse.ArgumentTypeError(f"{text!r} is an existing file, not a folder")
    parent = path
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise argparse.ArgumentTypeError(f"{text!r} is below {parent!r}, which is a file")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"{text!r} is not writable (no write access to "
                                         f"{parent!r})")
    return text

def _short(value, width=60):
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, float | np.floating):
        return f"{float(value):.4g}"
    if isinstance(value, dict):
        text = ", ".join(f"{k}={_short(v, 20)}" for k, v in value.items())
    elif isinstance(value, list | tuple):
        if len(value) > 6 or any(isinstance(v, dict | list | tuple) for v in value):
            return f"[{len(value)} entries]"
        text = "[" + ", ".join(_short(v, 20) for v in value) + "]"
    else:
        text = str(value)
    return text if len(text) <= width else text[: width - 3] + "..."


def format_summary(title, fields):
    """Format a short, human-readable summary: a title and one line per field.

    Long values (nested tables, long lists) are abbreviated; the full record stays in the
    files the command wrote.

    Parameters
    ----------
    title : str
        First line.
    fields : dict
        Name -> value (numbers, bools, strings, small dicts or lists).

    Returns
    -------
    text : str

    Examples
    --------
    >>> print(format_summary("diag3 (tiny)", {"wall time [s]": 1.23456, "holds": True}))
    diag3 (tiny)
      wall time [s]: 1.235
      holds: yes
    """
    lines = [str(title)]
    lines += [f"  {name}: {_short(value)}" for name, value in fields.items()]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# geodln compare
# ---------------------------------------------------------------------------------------------
TABLE_COLUMNS = [
    ("problem", "problem", "{}"),
    ("depth", "N", "{}"),
    ("max_rel_deviation", "max rel dev", "{:.2e}"),
    ("time_up_s", "time up [s]", "{:.3f}"),
    ("time_down_s", "time down [s]", "{:.3f}"),
    ("rhs_up", "RHS up", "{}"),
    ("rhs_down", "RHS down", "{}"),
    ("final_loss_up", "loss up", "{:.3e}"),
    ("final_loss_down", "loss down", "{:.3e}"),
]


#: integrators accepted by ``--method`` (scipy.integrate.solve_ivp)
SOLVE_IVP_METHODS = ["RK45", "RK23", "DOP853", "Radau", "BDF", "LSODA"]


def _add_compare_arguments(parser):
    parser.add_argument("--size", type=positive_int, default=30,
                        help="completion matrix is size x size")
    parser.add_argument("--rank", type=positive_int, default=3, help="rank of the ground truth")
    parser.add_argument("--fraction", type=fraction, default=0.3,
                        help="fraction of observed entries")
    parser.add_argument("--depths", type=positive_int, nargs="+", default=[2, 4, 8],
                        help="depths N")
    parser.add_argument("--scale", type=positive_float, default=1e-3,
                        help="initialisation scale alpha (X(0) = alpha * Gaussian)")
    parser.add_argument("--seed", type=nonnegative_int, default=0,
                        help="seed of the problem and the starts")
    parser.add_argument("--t-max", type=positive_float, default=100.0,
                        help="flow time (completion)")
    parser.add_argument("--n-grid", type=positive_int, default=50, help="common recording times")
    parser.add_argument("--method", default="RK45", choices=SOLVE_IVP_METHODS,
                        help="solve_ivp method (completion)")
    parser.add_argument("--rtol", type=positive_float, default=1e-8,
                        help="relative tolerance of the integrators")
    parser.add_argument("--atol", type=positive_float, default=1e-10,
                        help="absolute tolerance of the integrators")
    parser.add_argument("--rc-depth", type=positive_int, default=3,
                        help="depth of the Razin-Cohen run")
    parser.add_argument("--rc-t-max", type=positive_float, default=2e4,
                        help="flow time (Razin-Cohen)")
    parser.add_argument("--rc-loss-tol", type=positive_float, default=1e-4,
                        help="Razin-Cohen runs stop at this loss")
    parser.add_argument("--no-rc", action="store_true", help="skip the Razin-Cohen 2x2 problem")
    parser.add_argument("--out", type=output_dir, default=os.path.join("results", "compare"),
                        help="output folder (created)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _compare_problems(args):
    """Yield ``(label, kwargs for compare_flows, log_time)`` for every requested run."""
    from geodln.flows import At, StoppingRules
    from geodln.init import balanced
    from geodln.losses import random_completion, razin_cohen_completion

    shape = (args.size, args.size)
    loss, _ = random_completion(shape, args.rank, args.fraction, seed=args.seed)
    label = f"completion {args.size}x{args.size} r={args.rank}"
    grid = np.linspace(0.0, args.t_max, args.n_grid)
    seeds = np.random.SeedSequence(args.seed).spawn(len(args.depths) + 1)
    for depth, ss in zip(args.depths, seeds):
        start = balanced(shape, depth, args.scale, seed=np.random.default_rng(ss))
        yield label, dict(loss=loss, start=start, t_span=(0.0, args.t_max), record=At(grid),
                          method=args.method), False
    if not args.no_rc:
        rc = razin_cohen_completion()
        start = balanced((2, 2), args.rc_depth, 0.1, seed=np.random.default_rng(seeds[-1]),
                         det_sign=1)
        grid = np.concatenate([[0.0], np.geomspace(1e-2, args.rc_t_max, args.n_grid)])
        yield "Razin-Cohen 2x2 det>0", dict(
            loss=rc, start=start, t_span=(0.0, args.rc_t_max), record=At(grid), method="Radau",
            stop=StoppingRules(loss_tol=args.rc_loss_tol, max_norm=1e6)), True


def _format_table(rows):
    header = [title for _, title, _ in TABLE_COLUMNS]
    body = [[fmt.format(row[key]) for key, _, fmt in TABLE_COLUMNS] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in body)) for i, h in enumerate(header)]
    line = "  ".join(h.ljust(w) for h, w in zip(header, widths))
    out = [line, "-" * len(line)]
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in body]
    return "\n".join(out)


def _run_compare(args):
    from tqdm.auto import tqdm

    from geodln.flows import Solver, compare_flows
    from geodln.plotting.trajectory import comparison_figure
    from geodln.storage import atomic_write, save_text

    for name in ("size", "rank", "n_grid"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1")
    if args.rank > args.size:
        raise ValueError(f"--rank {args.rank} exceeds --size {args.size}")
    if any(d < 1 for d in args.depths):
        raise ValueError("--depths must be >= 1")
    problems = list(_compare_problems(args))
    results, log_time = [], []
    for label, kwargs, lt in tqdm(problems, desc="geodln compare", disable=args.quiet):
        solver = Solver(kwargs.pop("method"), rtol=args.rtol, atol=args.atol)
        results.append(compare_flows(solver=solver, name=label, **kwargs))
        log_time.append(lt)
    rows = [r.as_dict() for r in results]
    os.makedirs(args.out, exist_ok=True)
    csv_path = os.path.join(args.out, "compare.csv")
    table = io.StringIO(newline="")
    writer = csv.DictWriter(table, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows({k: (json.dumps(v) if isinstance(v, list) else v)
                      for k, v in row.items()} for row in rows)
    save_text(csv_path, table.getvalue())
    json_path = os.path.join(args.out, "compare.json")
    settings = {k: v for k, v in vars(args).items() if k != "func"}
    save_text(json_path, json.dumps({"settings": settings, "rows": rows}, indent=2))
    traj_dir = os.path.join(args.out, "trajectories")
    for i, r in enumerate(results):
        r.upstairs.save(os.path.join(traj_dir, f"run{i}_N{r.depth}_upstairs.npz"))
        r.downstairs.save(os.path.join(traj_dir, f"run{i}_N{r.depth}_downstairs.npz"))
    fig_path = os.path.join(args.out, "compare.png")
    fig = comparison_figure(results, log_time)
    atomic_write(fig_path, lambda fh: fig.savefig(fh, format="png", dpi=110), "wb")
    print(_format_table(rows))
    print(f"\nwrote {csv_path}, {json_path}, {fig_path} and {traj_dir}/")
    return 0


register_subcommand(
    "compare",
    _add_compare_arguments,
    _run_compare,
    help="upstairs vs downstairs gradient flows: deviation, cost, figure",
)


# ---------------------------------------------------------------------------------------------
def _show_defaults(parser):
    """Append ``(default: ...)`` to the help of every option that has a meaningful default."""
    for action in parser._actions:
        if (
            not action.option_strings
            or action.help == argparse.SUPPRESS
            or action.default is None
            or action.default is False
            or action.default is True
            or action.default is argparse.SUPPRESS
            or "%(default)" in (action.help or "")
        ):
            continue
        action.help = ((action.help or "").rstrip() + " (default: %(default)s)").lstrip()


def build_parser():
    """Build the ``geodln`` argument parser with every registered subcommand.

    Returns
    -------
    parser : argparse.ArgumentParser
    """
    for module in SUBCOMMAND_MODULES:
        importlib.import_module(module)
    parser = argparse.ArgumentParser(
        prog="geodln", description="Riemannian geometry of deep linear networks."
    )
    sub = parser.add_subparsers(dest="command", metavar="command")
    sub.required = True
    for cmd in SUBCOMMANDS.values():
        p = sub.add_parser(cmd.name, help=cmd.help, description=cmd.help)
        cmd.add_arguments(p)
        _show_defaults(p)
        p.set_defaults(func=cmd.run, _parser=p)
    return parser


def _option_of(parser, exc, args):
    """Return the option string a run-time error is about, or None."""
    options = [a for a in parser._actions if a.option_strings and a.dest != "help"]
    if isinstance(exc, OSError):
        where = os.path.abspath(str(exc.filename)) if exc.filename else None
        for action in options:
            value = getattr(args, action.dest, None)
            if where and isinstance(value, str) and value and (
                where == os.path.abspath(value)
                or where.startswith(os.path.abspath(value) + os.sep)
                or os.path.abspath(value).startswith(where + os.sep)
            ):
                return action.option_strings[-1]
        return None
    text, found = str(exc), []
    for action in options:  # the option named first in the message
        flag = action.option_strings[-1]
        names = {action.dest, flag, flag.lstrip("-"), flag.lstrip("-").replace("-", "_")}
        for name in names:
            match = re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", text)
            if match:
                found.append((match.start(), flag))
    return min(found)[1] if found else None


def _error_message(exc):
    if isinstance(exc, OSError) and exc.strerror:
        what = f": {exc.filename!s}" if exc.filename else ""
        return f"{exc.strerror}{what}"
    return " ".join(str(exc).split()) or type(exc).__name__


def main(argv=None):
    """Entry point of the ``geodln`` console script.

    Bad options end with an argparse-style one-line error naming the option and exit status
    2 (no traceback), whether argparse or the subcommand itself detects them.

    Parameters
    ----------
    argv : list of str, optional
        Arguments (default ``sys.argv[1:]``).

    Returns
    -------
    code : int
        Exit code (0 on success, 2 on a usage or input error).

    Raises
    ------
    SystemExit
        From argparse, for ``--help`` (status 0) or a malformed command line (status 2).

    Examples
    --------
    >>> from geodln.cli import main
    >>> try:
    ...     main(["no-such-command"])
    ... except SystemExit as exc:
    ...     print("exit status", exc.code)
    exit status 2
    """
    import matplotlib

    matplotlib.use("Agg")
    import geodln  # noqa: F401  (selects the autograd backend before geomstats)

    args = build_parser().parse_args(argv)
    parser = vars(args).pop("_parser")
    try:
        code = args.func(args)
    except (ValueError, OSError) as exc:
        option = _option_of(parser, exc, args)
        prefix = f"argument {option}: " if option else ""
        parser.print_usage(sys.stderr)
        print(f"{parser.prog}: error: {prefix}{_error_message(exc)}", file=sys.stderr)
        return 2
    return 0 if code is None else int(code)
