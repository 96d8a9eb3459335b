"""CrossMoCo models: ST-GCN, ST-MLP, the contrastive objective and baselines. Pure PyTorch."""
