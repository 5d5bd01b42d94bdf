"""The one generic training loop, its callbacks, optimisation and checkpoints; used by every task and the CLI."""
