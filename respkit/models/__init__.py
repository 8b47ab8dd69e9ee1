"""Models, all reachable through :func:`create_model`.

Importing a family's module registers its configurations; add one line here per family.
"""

from respkit.models.registry import create_model, list_models, model_class, register_model

from respkit.models import ast, cnn, resnet  # noqa: F401  (registers the families)
from respkit.models import dass  # noqa: F401  (registers dass_tiny / dass_small / dass_medium)
from respkit.models.heads import ProjectionHead

__all__ = ["ProjectionHead", "create_model", "list_models", "model_class", "register_model"]
