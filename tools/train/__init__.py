"""Training of the shipped sentiment models: the transformer heads and the Chinese model.

Run by `crisiswatch model build` (the CLI imports it lazily); no service imports it.
"""
