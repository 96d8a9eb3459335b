"""Skeleton data: raw readers, preprocessing to Parquet shards, loaders, streams and augmentation.

Installed, this folder is ``crossmoco.datasets`` (like every top-level folder, see ``crossmoco/__init__.py``),
so Hugging Face's ``datasets`` installs beside it; nothing here depends on that package.
"""

PROJECT_PACKAGE = "crossmoco"
