"""`python -m cvspec` runs the command-line interface."""

from cvspec.cli import main

main()
