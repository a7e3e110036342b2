"""Kernel functions of the SVMs."""

from __future__ import annotations

import numpy as np

__all__ = ["rbf_kernel", "squared_distances"]


def squared_distances(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Pairwise squared Euclidean distances, shape (len(A), len(B)), clipped at 0."""
    sq = np.einsum("ij,ij->i", A, A)[:, None] + np.einsum("ij,ij->i", B, B)[None, :]
    return np.maximum(sq - 2.0 * (A @ B.T), 0.0)


def rbf_kernel(A: np.ndarray, B: np.ndarray, gamma: float) -> np.ndarray:
    """``exp(-gamma ||a - b||^2)`` for all pairs of rows, shape (len(A), len(B))."""
    return np.exp(-gamma * squared_distances(A, B))
