"""``python -m pipeline`` is the ``crossmoco`` console script."""

from pipeline.cli import main

if __name__ == "__main__":
    main()
