"""collections-engine: the nightly batch of a bank's collections department."""

__version__ = "0.1.0"
__all__ = ["__version__"]
