"""Torch networks: AlexNet features, pretrained weights, ResNets, beta-weighted trainer, head.

Inside: :mod:`.features` (frozen AlexNet fc7), :mod:`.pretrained` (weights, offline first),
:mod:`.resnet`, :mod:`.weighted_trainer`, :mod:`.image_batches` (uint8 images turned into
device batches), :mod:`.softmax_head` (the dense head slope, the tests' oracle),
:mod:`.head_influence` (the slope of a network's own last layer, matrix-free),
:mod:`.conjugate_gradient` (its solver) and :mod:`.settings`.

Importing a module of this package imports torch, except :mod:`.settings` (architectures,
poison weightings, optimiser settings: what a command line checks before a run); the binary
models of :mod:`backdoor_curves.classifiers` never do.
"""
