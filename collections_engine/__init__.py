"""collections-engine: the nightly batch of a bank's collections department."""

import os

# LightGBM's OpenMP threads spin while waiting by default, which on a shared 2-core machine
# makes fits several times slower; set before any module imports LightGBM.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
__all__ = ["__version__"]
