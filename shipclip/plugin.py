"""Drop-in line for a lab's own Dassl/CoOp code: ``import shipclip.plugin``.

Add it to your ``train.py`` after your own trainer and dataset imports. It registers the SHIP
trainers (SHIP_CoOp, SHIP_CoCoOp, SHIP_TipAdapter, SHIP_TipAdapterF), Tip-Adapter(-F), the GZSL
benchmarks and ToyWorld; names your code already registered (CoOp, CoCoOp, ZeroshotCLIP,
OxfordPets, ...) keep your classes. For each of your own trainers (a Dassl ``TrainerX`` with its
own ``forward_backward``, e.g. CoOp's ``CoOp`` and ``CoCoOp``) it registers ``SHIP+<Name>``: your
class, unchanged, trained with SHIP (see :mod:`shipclip.ship.lab_trainers` for the contract). A
trainer you register later gets it with ``register_ship_for("<Name>")``.

Call ``shipclip.config.extend_cfg(cfg)`` inside your ``extend_cfg`` to get the ``TRAINER.SHIP`` /
``TRAINER.TIP`` keys; it adds only the keys you do not declare.

One line says what was registered; ``SHIPCLIP_REGISTRATION=full`` lists every name,
``SHIPCLIP_REGISTRATION=quiet`` prints nothing.
"""
from shipclip.registration import register_plugin
from shipclip.ship.lab_registry import register_ship_for

__all__ = ["REPORT", "SKIPPED", "register_ship_for"]

REPORT = register_plugin()
SKIPPED = REPORT.kept  # names of yours that were kept (as before)
