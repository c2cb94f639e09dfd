"""`python -m voxanne_admin.cli`."""

from voxanne_admin.cli import main

main()
