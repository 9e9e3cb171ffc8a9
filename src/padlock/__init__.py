"""padlock: the whole life of a web server certificate."""

__version__ = "0.1.0"
