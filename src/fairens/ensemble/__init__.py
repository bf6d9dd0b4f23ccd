"""Stage 3: seed streams and the training of homogeneous ensemble members."""

from .checkpoints import load_member as load_member
from .checkpoints import readable_checkpoint as readable_checkpoint
from .fit import SELECTIONS as SELECTIONS
from .fit import MemberResult as MemberResult
from .fit import Recipe as Recipe
from .fit import check_recipe as check_recipe
from .fit import predict_logits as predict_logits
from .fit import train_member as train_member
from .module import MemberModule as MemberModule
from .seeds import SOURCES as SOURCES
from .seeds import MemberSeeds as MemberSeeds
from .seeds import check_vary as check_vary
from .seeds import member_seeds as member_seeds
