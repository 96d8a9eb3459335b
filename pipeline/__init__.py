"""The orchestration: chains, Ray Train and Tune, MLflow tracking, storage; the only package that knows
Ray and MLflow. The PyTorch training core it runs is ``training``."""
