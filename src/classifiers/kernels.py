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

__all__ = [
    "Kernel",
    "LinearKernel",
    "Products",
    "RBFKernel",
    "kernel_matrix",
    "rbf_kernel",
    "squared_distances",
]


@dataclass(frozen=True)
class Products:
    """``A B^T`` and the squared row norms of ``A`` and ``B``: what every kernel here is made of.

    Whoever needs several kernels of the same rows (a linear model and RBF models at several
    gammas) computes the product once and each kernel from it (:func:`kernel_matrix`); the
    result is bit for bit the kernel's own.
    """

    product: np.ndarray
    a_norms: np.ndarray
    b_norms: np.ndarray

    @classmethod
    def of(cls, A: np.ndarray, B: np.ndarray) -> Products:
        """Return the products of the rows of ``A`` (n, d) and ``B`` (m, d)."""
        return cls(A @ B.T, np.einsum("ij,ij->i", A, A), np.einsum("ij,ij->i", B, B))

    def squared_distances(self) -> np.ndarray:
        """Pairwise squared distances ``||a||^2 + ||b||^2 - 2 a.b``, clipped at 0 (a new array).

        The product is subtracted twice rather than doubled, so that for ``A is B`` the result
        is exactly symmetric.
        """
        distances = np.add.outer(self.a_norms, self.b_norms)
        distances -= self.product
        distances -= self.product
        return np.maximum(distances, 0.0, out=distances)


def squared_distances(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Pairwise squared Euclidean distances, shape (len(A), len(B)), clipped at 0."""
    return Products.of(A, B).squared_distances()


def rbf_kernel(A: np.ndarray, B: np.ndarray, gamma: float) -> np.ndarray:
    """``exp(-gamma ||a - b||^2)`` for all pairs of rows, shape (len(A), len(B))."""
    return _rbf_from(Products.of(A, B), gamma)


def _rbf_from(products: Products, gamma: float) -> np.ndarray:
    kernel = products.squared_distances()
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


def kernel_matrix(kernel: Kernel, products: Products) -> np.ndarray:
    """Return ``kernel``'s matrix from the products of its two sets of rows.

    Bit for bit what ``kernel(A, B)`` computes (the linear kernel's matrix is the product
    itself, shared, not copied).
    """
    if isinstance(kernel, LinearKernel):
        return products.product
    return _rbf_from(products, kernel.gamma)
