"""``python -m kvopt.cli``: the ``kvopt`` command."""

from kvopt.cli import main

main()
