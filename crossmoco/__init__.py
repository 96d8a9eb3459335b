"""The command line, the top of the import graph: ``crossmoco -> experiments -> pipeline -> {models, datasets}``."""
