"""Kernel functions of the models, and the inner products they share.

The expensive part of every kernel here is the product ``A B^T`` (the linear kernel itself, and
the cross term of the RBF kernel's squared distances). In a slope grid every model of a seed is
fitted on the same training set: three linear models and the RBF SVM at each of its widths. For
immutable inputs (:func:`~backdoor_curves.classifiers.base.is_immutable`, as the problem layer
hands them out) :func:`inner_products` computes each product once per process and returns it
read-only; other inputs get a fresh product every time.
"""

from __future__ import annotations

import functools
import weakref
from collections import OrderedDict

import numpy as np

from backdoor_curves.classifiers.base import is_immutable

__all__ = ["PRODUCT_CACHE_BYTES", "inner_products", "rbf_kernel", "squared_distances"]

PRODUCT_CACHE_BYTES = 512 * 2**20
"""Bytes of products kept per process (least recently used first out; an entry also leaves
with its inputs). A slope task group reads 17 products over and over (training, test and
backdoor sets of five seeds, and the clean training and test sets): about 45 MB on embedded
MNIST and 175 MB on 1,500 AlexNet features. A cache smaller than that cycle misses every time,
as the former limit of 16 entries did."""

# (id(A), id(B)) -> (weak reference to A, weak reference to B, read-only A B^T).
_PRODUCTS: OrderedDict[tuple[int, int], tuple[weakref.ref, weakref.ref, np.ndarray]] = OrderedDict()


def _forget(key: tuple[int, int], _: weakref.ref) -> None:
    _PRODUCTS.pop(key, None)


def inner_products(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Return ``A B^T``, shape (len(A), len(B)): computed once per pair of immutable inputs.

    The cached product is read-only: a caller that needs to change it must copy it.
    """
    if not (is_immutable(A) and is_immutable(B)):
        return A @ B.T
    key = (id(A), id(B))
    entry = _PRODUCTS.get(key)
    if entry is not None and entry[0]() is A and entry[1]() is B:
        _PRODUCTS.move_to_end(key)
        return entry[2]
    product = A @ B.T
    product.setflags(write=False)
    forget = functools.partial(_forget, key)
    _PRODUCTS[key] = (weakref.ref(A, forget), weakref.ref(B, forget), product)
    while len(_PRODUCTS) > 1 and sum(entry[2].nbytes for entry in _PRODUCTS.values()) > (
        PRODUCT_CACHE_BYTES
    ):
        _PRODUCTS.popitem(last=False)
    return product


def squared_distances(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Pairwise squared Euclidean distances, shape (len(A), len(B)), clipped at 0.

    Computed in place in one array (a fresh array per temporary costs more than the arithmetic
    at these sizes); the product is subtracted twice rather than doubled, so that for ``A is B``
    the result is exactly symmetric.
    """
    distances = np.add.outer(np.einsum("ij,ij->i", A, A), np.einsum("ij,ij->i", B, B))
    product = inner_products(A, B)
    distances -= product
    distances -= product
    return np.maximum(distances, 0.0, out=distances)


def rbf_kernel(A: np.ndarray, B: np.ndarray, gamma: float) -> np.ndarray:
    """``exp(-gamma ||a - b||^2)`` for all pairs of rows, shape (len(A), len(B))."""
    kernel = squared_distances(A, B)
    kernel *= -gamma
    return np.exp(kernel, out=kernel)
