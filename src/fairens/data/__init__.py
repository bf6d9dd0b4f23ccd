"""Stage 1: datasets decoded into memory, their subgroups, batching and augmentation."""

# importing the loader modules registers their datasets
from . import celeba as _celeba  # noqa: F401
from . import cifar as _cifar  # noqa: F401
from . import digits as _digits  # noqa: F401
from . import folder as _folder  # noqa: F401
from . import utkface as _utkface  # noqa: F401
from .augment import augment_batch as augment_batch
from .base import AugmentSpec as AugmentSpec
from .base import ImageData as ImageData
from .base import Split as Split
from .base import resize as resize
from .loaders import batch_loader as batch_loader
from .registry import check_image_size as check_image_size
from .registry import list_datasets as list_datasets
from .registry import load_dataset as load_dataset
from .registry import register_dataset as register_dataset
