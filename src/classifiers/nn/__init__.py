"""Torch networks: AlexNet features, pretrained weights, ResNets, beta-weighted trainer, head.

Inside: :mod:`.features` (frozen AlexNet fc7), :mod:`.pretrained` (weights, offline first),
:mod:`.resnet`, :mod:`.weighted_trainer`, :mod:`.softmax_head` (the head's learning slope) and
:mod:`.image_batches` (uint8 images turned into device batches).

Importing a module of this package imports torch; the binary models of
:mod:`backdoor_curves.classifiers` never do.
"""
