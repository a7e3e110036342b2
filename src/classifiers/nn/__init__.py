"""Torch networks: AlexNet features, input gradients, weights, ResNets, trainer, head.

Inside: :mod:`.features` (frozen AlexNet fc7), :mod:`.input_gradients` (input gradients of a
model's margin through the features), :mod:`.pretrained` (weights, offline first),
:mod:`.resnet`, :mod:`.weighted_trainer`, :mod:`.softmax_head` (the head's learning slope) and
:mod:`.image_batches` (uint8 images turned into device batches).

Importing a module of this package imports torch; the binary models of
:mod:`backdoor_curves.classifiers` never do.
"""
