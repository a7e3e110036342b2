r"""Input gradients of a binary head through a torch feature extractor.

A binary model ``f`` (:mod:`backdoor_curves.classifiers`) fitted on deep features
``phi(x)`` of images ``x`` is explained by its input gradient through the network,

    g(x) = d f(phi(x)) / d x = J_phi(x)^T grad f(phi(x)),

taken with autograd: :func:`torch_decision` writes the fitted head's decision function with
torch operations (``phi . w + b`` for the linear models; ``sum_i alpha_i y_i
exp(-gamma ||phi - x_i||^2) + b`` over the support vectors for the RBF SVM), and
:func:`extractor_input_gradient` differentiates it back through the extractor.
:class:`TorchFeatures` is the
:class:`~backdoor_curves.attacks.explanations.FeatureMap` of a frozen extractor (features and
input gradients as numpy arrays); the pixel map and the measures of an explanation live in
:mod:`backdoor_curves.attacks.explanations`, which never imports torch.
"""

from __future__ import annotations

import numpy as np
import torch

from backdoor_curves.classifiers.base import BinaryClassifier
from backdoor_curves.classifiers.primal import PrimalLinearModel
from backdoor_curves.classifiers.svm import RBFSVM, LinearSVM

__all__ = ["TorchFeatures", "extractor_input_gradient", "torch_decision"]


def torch_decision(model: BinaryClassifier, features: torch.Tensor) -> torch.Tensor:
    """Return the fitted head's decision ``f(phi)`` on features, differentiable in them.

    Parameters
    ----------
    model : BinaryClassifier
        A fitted linear SVM, logistic or ridge model, or RBF SVM.
    features : torch.Tensor of shape (n, n_features)
        The features the head was fitted on.

    Returns
    -------
    torch.Tensor of shape (n,)
        ``f(phi)`` in the dtype and on the device of ``features``.
    """
    dtype, device = features.dtype, features.device
    if isinstance(model, LinearSVM | PrimalLinearModel):
        w = torch.as_tensor(model.coef_, dtype=dtype, device=device)
        return features @ w + float(model.intercept_)
    if isinstance(model, RBFSVM):
        support = torch.as_tensor(model.support_vectors_, dtype=dtype, device=device)
        coef = torch.as_tensor(model.dual_coef_[model.support_], dtype=dtype, device=device)
        squared = torch.cdist(features, support).square()
        return torch.exp(-model.gamma * squared) @ coef + float(model.intercept_)
    raise ValueError(
        f"no torch decision function for {type(model).__name__}; supported: LinearSVM, "
        "RBFSVM, LogisticClassifier, RidgeClassifier"
    )


def extractor_input_gradient(
    extractor: torch.nn.Module,
    head: BinaryClassifier,
    images: torch.Tensor,
    *,
    batch_size: int = 32,
) -> torch.Tensor:
    """``d f(phi(x)) / d x``: the head's decision gradient through a feature extractor.

    Parameters
    ----------
    extractor : torch.nn.Module
        Maps a batch of images (n, C, H, W) to features; its output is flattened to
        (n, n_features), the inputs the head was fitted on. Used as is (put it in eval mode
        and on its device beforehand); its parameters get no gradient.
    head : BinaryClassifier
        Fitted linear model or RBF SVM on the extractor's features.
    images : torch.Tensor of shape (n, C, H, W)
        Input images on the extractor's device and in its dtype (pixels in [0, 1], before
        any normalisation the extractor applies itself).
    batch_size : int
        Images per backward pass.

    Returns
    -------
    torch.Tensor of shape (n, C, H, W)
        The input gradients, detached, same dtype and device as ``images``.
    """
    gradients = []
    for start in range(0, images.shape[0], batch_size):
        batch = images[start : start + batch_size].detach().clone().requires_grad_(True)
        features = extractor(batch).flatten(start_dim=1)
        # The decision of each image depends on its own input only, so the gradient of the
        # sum is the stack of the per-image gradients.
        (grad,) = torch.autograd.grad(torch_decision(head, features).sum(), batch)
        gradients.append(grad.detach())
    return torch.cat(gradients)


class TorchFeatures:
    """Features of a frozen torch extractor; gradients through it with autograd.

    Parameters
    ----------
    extractor : torch.nn.Module
        Maps (n, C, H, W) images in [0, 1] to features (flattened to (n, n_features)); it
        is put in eval mode and left on ``device``.
    device : torch.device
        Where the extractor runs.
    dtype : torch.dtype
        Dtype of the images fed to the extractor (its parameters' dtype).
    batch_size : int
        Images per forward / backward pass.
    name : str
        What the features are, for the result tables (see
        :class:`~backdoor_curves.attacks.explanations.FeatureMap`).
    """

    def __init__(
        self,
        extractor: torch.nn.Module,
        device: torch.device,
        *,
        dtype: torch.dtype = torch.float32,
        batch_size: int = 32,
        name: str = "torch-extractor",
    ) -> None:
        self.name = name
        self.extractor = extractor.eval().to(device)
        self.device = device
        self.dtype = dtype
        self.batch_size = batch_size

    def _tensor(self, images: np.ndarray) -> torch.Tensor:
        # A copy: the images may be read-only views, which torch cannot wrap.
        return torch.tensor(np.asarray(images), dtype=self.dtype, device=self.device)

    def features(self, images: np.ndarray) -> np.ndarray:
        """Extractor outputs, (n, n_features) float64, computed in batches without autograd."""
        outputs = []
        with torch.no_grad():
            for start in range(0, len(images), self.batch_size):
                batch = self._tensor(images[start : start + self.batch_size])
                outputs.append(self.extractor(batch).flatten(start_dim=1).cpu().double())
        return torch.cat(outputs).numpy()

    def input_gradient(self, model: BinaryClassifier, images: np.ndarray) -> np.ndarray:
        """``d f(phi(x)) / d x`` (see :func:`extractor_input_gradient`), float64 numpy."""
        gradient = extractor_input_gradient(
            self.extractor, model, self._tensor(images), batch_size=self.batch_size
        )
        return gradient.cpu().double().numpy()
