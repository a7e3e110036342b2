"""Torch networks: AlexNet features, input gradients through them, weights, ResNets, the trainer.

Importing a module of this package imports torch; the binary models of
:mod:`backdoor_curves.classifiers` never do.
"""
