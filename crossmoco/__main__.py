"""``python -m crossmoco`` is the ``crossmoco`` console script."""

from crossmoco.cli import main

if __name__ == "__main__":
    main()
