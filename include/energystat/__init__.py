"""energystat: energy and resource statistics of public institutions."""
__version__ = "0.1.0"
