"""``python -m geodln`` — same as the ``geodln`` console script (:func:`geodln.cli.main`)."""

from geodln.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
