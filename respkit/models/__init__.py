"""Models, all reachable through :func:`create_model`.

Importing a family's module registers its configurations; add one line here per family.
"""

from respkit.models import (  # noqa: F401  (registers the families)
    ast,
    cnn,
    crnn,
    dass,  # noqa: F401  (registers dass_tiny / dass_small / dass_medium)
    resnet,
)
from respkit.models.heads import ProjectionHead
from respkit.models.registry import create_model, list_models, model_class, register_model

__all__ = ["ProjectionHead", "create_model", "list_models", "model_class", "register_model"]
