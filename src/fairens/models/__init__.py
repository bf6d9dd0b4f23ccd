"""Stage 2: architectures by name (one registry) and their size and cost."""

# importing the architecture modules registers their models
from . import cnn as _cnn  # noqa: F401
from . import timm_zoo as _timm_zoo  # noqa: F401
from .catalogue import describe_zoo as describe_zoo
from .profile import count_macs as count_macs
from .profile import count_params as count_params
from .profile import profile_model as profile_model
from .registry import ModelSpec as ModelSpec
from .registry import create_model as create_model
from .registry import get_spec as get_spec
from .registry import list_models as list_models
from .registry import register_model as register_model
