import pytest
import torch


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def n_params(module) -> int:
    return sum(p.numel() for p in module.parameters())
