"""Test support for shipclip (not part of the product): tiny random CLIP models, fake datasets in their
real on-disk layouts, and helpers that run ``train.py`` the way a user does.

* :mod:`.models`: tiny open_clip configs and models (widths all different, so mix-ups fail loudly);
* :mod:`.fake_datasets`: every supported dataset's layout in miniature, and the colour dataset;
* :mod:`.runs`: ``train.py`` runs on the colour dataset with a tiny backbone (in-process);
* :mod:`.reliability`: subprocess runs, injected crashes and bit-for-bit checkpoint comparisons.

Used by ``tests/``, ``tests_gpu/`` and ``benchmarks/``.
"""
