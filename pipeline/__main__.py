"""``python -m pipeline``, the documented spelling of the ``crossmoco`` console script: the program's
entry point, run as a script and imported by nothing, so the one arrow from ``pipeline`` up to the
command line (``crossmoco/cli.py``, the top layer) starts here."""

from crossmoco.cli import main

if __name__ == "__main__":
    main()
