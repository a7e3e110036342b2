"""The hinge-loss SVM on a precomputed kernel matrix (scikit-learn's ``kernel="precomputed"``).

The other models evaluate their kernel on inputs. With a precomputed kernel there are no
inputs, only kernel values: the training set is the matrix ``K_ij = k(x_i, x_j)`` (n, n) and
any other set is its rows against the training points, ``K_eval[t, j] = k(x_t, x_j)``. This
module writes each point as one row

    z = [index, k(x, x_1), ..., k(x, x_n)],

with ``index`` the position of a training point in the training set and ``-1`` for any other
point (:func:`training_rows`, :func:`evaluation_rows`). The kernel of two rows is then a
lookup, ``k(z_a, z_b) = z_a[1 + index_b]``, defined whenever ``z_b`` is a training point,
which is all an SVM needs: its decision function, its dual and its derivatives only pair
points with training points (support vectors). The model is :class:`KernelSVM` with that
kernel, so it minimises the same objective with the same exact KKT solution,

    J = 1/2 ||w||^2 + C sum_i s_i max(0, 1 - y_i f(x_i)),   f(x) = sum_i alpha_i y_i k(x_i, x) + b,

with ``w`` in the feature space of ``k`` (which must be positive semi-definite).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from backdoor_curves.classifiers.svm import KernelSVM

__all__ = ["PrecomputedKernelSVM", "evaluation_rows", "training_rows"]


def training_rows(gram: np.ndarray) -> np.ndarray:
    """Rows ``[i, K_i1, ..., K_in]`` of the training points, shape (n, n + 1).

    Parameters
    ----------
    gram : ndarray of shape (n, n)
        Symmetric kernel matrix of the training points.
    """
    gram = np.asarray(gram, dtype=np.float64)
    if gram.ndim != 2 or gram.shape[0] != gram.shape[1]:
        raise ValueError(f"a training kernel matrix must be square (n, n), got {gram.shape}")
    return np.hstack([np.arange(gram.shape[0], dtype=np.float64)[:, None], gram])


def evaluation_rows(kernel_rows: np.ndarray) -> np.ndarray:
    """Rows ``[-1, k(x_t, x_1), ..., k(x_t, x_n)]`` of other points, shape (m, n + 1).

    Parameters
    ----------
    kernel_rows : ndarray of shape (m, n)
        Kernel values of ``m`` points against the ``n`` training points.
    """
    kernel_rows = np.asarray(kernel_rows, dtype=np.float64)
    if kernel_rows.ndim != 2:
        raise ValueError(f"kernel rows must be 2-D (m, n_train), got {kernel_rows.shape}")
    return np.hstack([np.full((kernel_rows.shape[0], 1), -1.0), kernel_rows])


class PrecomputedKernelSVM(KernelSVM):
    """Hinge-loss SVM whose inputs are rows of a precomputed kernel (see the module docstring).

    Fit it on :func:`training_rows` of the training kernel matrix and evaluate it on
    :func:`evaluation_rows` (or on training rows). See :class:`KernelSVM` for the parameters.
    """

    scores_from_gram: ClassVar[bool] = True

    def kernel(self, A: np.ndarray, B: np.ndarray) -> np.ndarray:
        """``k(A_t, B_j) = A[t, 1 + index_j]``, shape (len(A), len(B)).

        Raises
        ------
        ValueError
            If a row of ``B`` is not a training point (its index is -1), or ``A`` has not
            one kernel value per training point.
        """
        A = np.asarray(A, dtype=np.float64)
        B = np.asarray(B, dtype=np.float64)
        index = B[:, 0].astype(np.intp)
        if (index < 0).any():
            raise ValueError(
                "a precomputed kernel is known only against training points; the second "
                "argument holds other points"
            )
        if A.shape[1] != B.shape[1]:
            raise ValueError(
                f"kernel rows have {A.shape[1] - 1} values, expected {B.shape[1] - 1} "
                "(one per training point)"
            )
        return A[:, 1 + index]

    def input_gradient(self, X: np.ndarray) -> np.ndarray:
        """Undefined: a precomputed kernel has no inputs to differentiate.

        Raises
        ------
        TypeError
            Always.
        """
        raise TypeError("a model on a precomputed kernel has no input gradient")
