"""Layer 8, the command line: ``mildip`` and its subcommands."""
