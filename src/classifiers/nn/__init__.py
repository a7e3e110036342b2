"""Torch networks: frozen AlexNet features, pretrained weights, ResNets, the beta-weighted trainer.

Importing a module of this package imports torch; the binary models of
:mod:`backdoor_curves.classifiers` never do.
"""
