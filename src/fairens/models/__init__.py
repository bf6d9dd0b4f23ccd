"""Stage 2: architectures by name (one registry) and their size and cost."""

from . import cnn as _cnn  # noqa: F401  (registers the project's own models)
from .profile import count_macs as count_macs
from .profile import count_params as count_params
from .registry import ModelSpec as ModelSpec
from .registry import create_model as create_model
from .registry import get_spec as get_spec
from .registry import list_models as list_models
from .registry import register_model as register_model
