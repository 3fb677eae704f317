"""``python -m scalecloud.cli`` runs the scalecloud command."""

from scalecloud.cli.app import main

main()
