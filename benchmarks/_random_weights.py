"""Random weights for parity checks, shared by official_parity.py and mmaction2_reference.py (which
runs under another Python, with torch but without csst-zoo: this module imports torch only)."""
import torch

CLASSIFIERS = ('new_fc', 'fc_cls')  # the authors' TSN-style code, mmaction2's heads


def randomise(model: torch.nn.Module) -> None:
    """Non-trivial BatchNorm statistics and affines, and a classifier of std 0.05 (the official inits
    leave BN at identity and the classifier at std 0.001); the convs keep their random (Kaiming)
    init, so the activations, and the logits, stay of order 1."""
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if not t.is_floating_point():
                continue
            if any(c in name for c in CLASSIFIERS):
                t.normal_(0, 0.05)
            elif name.endswith('running_var'):
                t.uniform_(0.5, 1.5)
            elif name.endswith('running_mean') or (name.endswith('bias') and t.ndim == 1):
                t.uniform_(-0.1, 0.1)
            elif name.endswith('weight') and t.ndim == 1:
                t.uniform_(0.5, 1.0)
