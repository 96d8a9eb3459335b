"""``python -m pipeline`` from a checkout's root: the older spelling of ``python -m crossmoco``, kept so the
commands people have typed still run. Installed, the folder is ``crossmoco.pipeline`` and the program is
``crossmoco`` (or ``python -m crossmoco``). Run as a script and imported by nothing, so the one arrow from
``pipeline`` up to the command line (``crossmoco/cli.py``, the top layer) starts here."""

from crossmoco.cli import main

if __name__ == "__main__":
    main()
