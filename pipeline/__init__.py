"""The experiment pipeline: the only package that knows Ray Train, Ray Tune and MLflow."""
