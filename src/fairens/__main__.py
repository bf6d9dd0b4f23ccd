"""``python -m fairens``: the ``fairens`` command."""

from .cli import main

main()
