"""The paper's tables as data: every row's settings and the paper's figure."""
