"""The ``ferry`` command line; :func:`ferry.cli.main.main` is its entry point."""
