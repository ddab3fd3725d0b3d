"""Matrix factorization of ratings by lock-free parallel SGD (the HOGWILD! paper's Netflix case)."""
from ._estimator import MatrixFactorization

__all__ = ["MatrixFactorization"]
