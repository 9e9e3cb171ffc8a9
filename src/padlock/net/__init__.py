"""Outbound HTTP adapters that the CA's use cases reach through a port (``ca/mpic``'s
``Transport``): built only in ``wiring.py``."""
