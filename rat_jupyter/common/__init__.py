"""The vocabulary the core and the stores share: errors, ids, names, settings, table layout helpers.

Every module here is a leaf: it imports nothing from ``rat_jupyter`` outside this package, so both layers
can depend on it without depending on each other. The dependency direction is
``front doors -> core -> stores`` (the core through ``stores/protocols.py`` and one composition root),
with ``common`` underneath all of them; ``tests/test_architecture.py`` keeps it that way (ADR 0019).
"""
