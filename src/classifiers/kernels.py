"""Kernel functions of the models, as values.

A model's kernel is a frozen, hashable value (:class:`LinearKernel`, :class:`RBFKernel`):
calling it on two sets of rows gives the kernel matrix, and two equal values compute the same
matrix from the same rows. Whoever caches kernel matrices keys them by that value and by what
the rows are, never by the identity of the arrays (the workspace of the experiments,
:mod:`backdoor_curves.experiments.workspace`, keys them by the task fields that made the rows).
Nothing here keeps state: every call computes its matrix.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

import numpy as np

__all__ = ["Kernel", "LinearKernel", "RBFKernel", "rbf_kernel", "squared_distances"]


def squared_distances(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Pairwise squared Euclidean distances, shape (len(A), len(B)), clipped at 0.

    ``||a||^2 + ||b||^2 - 2 a.b``, computed in place in one array (a fresh array per
    temporary costs more than the arithmetic at these sizes); the product ``A B^T`` is
    subtracted twice rather than doubled, so that for ``A is B`` the result is exactly
    symmetric.
    """
    distances = np.add.outer(np.einsum("ij,ij->i", A, A), np.einsum("ij,ij->i", B, B))
    product = A @ B.T
    distances -= product
    distances -= product
    return np.maximum(distances, 0.0, out=distances)


def rbf_kernel(A: np.ndarray, B: np.ndarray, gamma: float) -> np.ndarray:
    """``exp(-gamma ||a - b||^2)`` for all pairs of rows, shape (len(A), len(B))."""
    kernel = squared_distances(A, B)
    kernel *= -gamma
    return np.exp(kernel, out=kernel)


@dataclass(frozen=True)
class LinearKernel:
    """The linear kernel ``k(a, b) = a . b``."""

    def __call__(self, A: np.ndarray, B: np.ndarray) -> np.ndarray:
        """Return ``A B^T``, shape (len(A), len(B))."""
        return A @ B.T


@dataclass(frozen=True)
class RBFKernel:
    """The Gaussian (RBF) kernel ``k(a, b) = exp(-gamma ||a - b||^2)``.

    Attributes
    ----------
    gamma : float
        Kernel width (> 0).
    """

    gamma: float

    def __call__(self, A: np.ndarray, B: np.ndarray) -> np.ndarray:
        """Return the kernel matrix, shape (len(A), len(B)) (see :func:`rbf_kernel`)."""
        return rbf_kernel(A, B, self.gamma)


Kernel: TypeAlias = LinearKernel | RBFKernel
"""A model's kernel: a hashable value that computes kernel matrices."""
