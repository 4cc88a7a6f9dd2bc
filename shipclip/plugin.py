"""Drop-in line for a lab's own Dassl/CoOp code: ``import shipclip.plugin``.

Add it to your ``train.py`` after your own trainer and dataset imports. It registers the SHIP
trainers (SHIP_CoOp, SHIP_CoCoOp, SHIP_TipAdapter, SHIP_TipAdapterF), Tip-Adapter(-F), the GZSL
benchmarks and ToyWorld; names your code already registered (CoOp, CoCoOp, ZeroshotCLIP,
OxfordPets, ...) keep your classes. Call ``shipclip.config.extend_cfg(cfg)`` in your
``extend_cfg`` to get the ``TRAINER.SHIP`` / ``TRAINER.TIP`` keys.
"""
from shipclip.registration import register_plugin

SKIPPED = register_plugin()
