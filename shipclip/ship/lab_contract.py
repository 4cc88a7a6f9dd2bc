"""The contract a lab's trainer meets for ``SHIP+<Name>``, and the error that names a broken clause.

Kept apart so that the registry, the CLIP check (:mod:`shipclip.ship.lab_clip`) and the mixin refuse
with the same words (docs/DASSL.md quotes them).
"""

__all__ = ["CONTRACT", "ShipContractError", "contract_error", "engine_classes", "overrides"]

CONTRACT = """\
1. It is a Dassl TrainerX (of the engine that runs) and overrides forward_backward.
2. Its build_model reads the class list from self.dm.dataset.classnames and sets self.model, whose classifier
   covers every class of that list in that order (labels index it).
3. self.model (not wrapped in nn.DataParallel: run on one GPU) has an image_encoder module: a frozen CLIP image
   encoder (no trainable parameter) that the model calls once per forward, as image_encoder(images), with no
   other input. Learned prompts inside the image encoder (MaPLe, VPT) cannot be met: a synthesized feature
   stands for an image feature, which those prompts change.
4. forward_backward(batch) takes the images and labels from batch["img"] and batch["label"], and its loss is
   computed over every row of the batch; self.model(images) in eval mode returns the logits over the class list.
5. The image encoder's output is the frozen CLIP of the weights file MODEL.BACKBONE.NAME / PRETRAINED name (by
   default OpenAI's file in ~/.cache/clip, the one CoOp loads); the generator decodes with that CLIP's text tower.
"""


class ShipContractError(TypeError):
    """The lab's trainer cannot run with SHIP; the message names the clause of the contract it breaks."""


def contract_error(trainer_name, clause, detail):
    return ShipContractError(
        f"SHIP cannot run on trainer {trainer_name}: {detail} (clause {clause} of the contract for "
        f"SHIP on your own trainers, see docs/DASSL.md):\n{CONTRACT}"
    )


def engine_classes():
    """Dassl's (or the built-in engine's) TrainerBase, SimpleTrainer and TrainerX."""
    from shipclip.backend import SimpleTrainer, TrainerBase, TrainerX

    return TrainerBase, SimpleTrainer, TrainerX


def overrides(cls, name):
    """True when ``cls`` or a base class of the lab (not the engine's) defines ``name``."""
    engine = engine_classes()
    for klass in cls.__mro__:
        if klass in engine or klass is object:
            return False
        if name in vars(klass):
            return True
    return False
