"""hubmodels: Hub-compatible PyTorch models for image-synthesis GANs.

    import hubmodels
    model = hubmodels.load("hubmodels/stargan-v2-synthfaces")
"""
from __future__ import annotations

__version__ = "0.1.0"

from .hub import HubModel, HubModelError, ModelNotFoundError, load, local_hub_dir  # noqa: E402
from .registry import create_model, list_configs  # noqa: E402

__all__ = ["HubModel", "HubModelError", "ModelNotFoundError", "load", "local_hub_dir", "create_model",
           "list_configs", "__version__"]
