"""The command line, the top of the import graph: ``crossmoco -> experiments -> pipeline -> {models, datasets}``.

One import namespace. The repository keeps its top-level folders (``datasets/``, ``models/``,
``pipeline/``, ``experiments/``); the wheel installs each as ``crossmoco.<folder>``, so nothing of ours
sits at the top of site-packages beside Hugging Face ``datasets`` (setup.py maps them). In a checkout
the folders sit beside ``crossmoco/``, not in it: the repository root joins this package's path, so
``crossmoco.datasets`` is ``datasets/`` there too. Code imports only ``crossmoco.<folder>...``: a module
imported under two names is two modules (two config classes break isinstance and Ray's unpickling).
"""

import os

# The top-level folders installed as crossmoco.<name>: setup.py, scripts/namespace_imports.py and the
# packaging test read this tuple. A new folder is one more name here (then run that script).
SUBPACKAGES = ("datasets", "models", "training", "pipeline", "experiments")

_here = os.path.dirname(os.path.abspath(__file__))
if not os.path.isdir(os.path.join(_here, SUBPACKAGES[0])):  # a checkout (or an editable install of one)
    __path__.append(os.path.dirname(_here))  # a package's path, set by the import system
