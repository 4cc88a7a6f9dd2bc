"""Infrastructure used under both engines (real Dassl and the built-in one).

* :mod:`.io`: crash-safe writes with the file modes ``open()`` would give;
* :mod:`.checkpoint`: checkpoints in Dassl's layout, loading that works on current PyTorch, resume;
* :mod:`.schedulers`: Dassl's lr schedules with a plain-data state (torch >= 2.7 safe);
* :mod:`.config_merge`: YAML / ``KEY VALUE`` merging with explained errors;
* :mod:`.distributed`: torchrun process groups, gradient averaging, rank-0-only writes.

Nothing here imports an engine: the built-in engine (:mod:`shipclip.engine`) builds on these
modules, and trainers use them directly whatever :mod:`shipclip.backend` selected.
"""
