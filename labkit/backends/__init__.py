"""Backends behind ``labkit.Lab``: the simulator (default); see ``labkit.backends.base`` for the contract."""
