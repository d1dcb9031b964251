"""The ``pypet-rebuild`` command: look at result files from the shell."""
