"""Skeleton data: raw readers, preprocessing to Parquet shards, loaders, streams and augmentation.

This is the project's own ``datasets`` package; it shadows the Hugging Face package of the same
name inside this project, and nothing here depends on that package.
"""

PROJECT_PACKAGE = "crossmoco"
