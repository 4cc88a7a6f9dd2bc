"""Name -> class registries with Dassl's API (``register``, ``get``, ``registered_names``).

Unknown names fail with the list of what exists and the closest match, so a typo in
``--trainer`` or ``DATASET.NAME`` is explained instead of crashing later.
"""
import difflib

__all__ = ["Registry", "check_availability"]


def check_availability(requested, available, what=None):
    """Raise ``ValueError`` naming the closest available choice when ``requested`` is unknown.

    ``what`` (e.g. ``"trainer (--trainer / TRAINER.NAME)"``) names the setting in the message;
    without it the message keeps Dassl's wording.
    """
    available = list(available)
    if requested in available:
        return
    close = difflib.get_close_matches(str(requested), [str(a) for a in available], n=1, cutoff=0.0)
    hint = f' Did you mean "{close[0]}"?' if close else ""
    if what:
        raise ValueError(
            f'Unknown {what}: "{requested}" is not registered.{hint} Available ones are: {sorted(available)}. '
            "Fix the name, or register your own class through SHIPCLIP_EXTRA_MODULES (see train.py)."
        )
    raise ValueError(
        f'The requested one is "{requested}", but it is not available. '
        f"Available ones are: {sorted(available)}.{hint}"
    )


class Registry:
    """Maps a class ``__name__`` (or an explicit name) to the class.

    Registering a name twice raises ``KeyError`` unless ``force=True``, as in Dassl.
    """

    def __init__(self, name):
        self._name = name
        self._obj_map = {}

    def _do_register(self, name, obj, force=False):
        if name in self._obj_map and not force:
            raise KeyError(
                f'An object named "{name}" was already registered in "{self._name}" registry '
                f"(by {self._obj_map[name].__module__}). Register it under another name, or import "
                "only one module that defines it."
            )
        self._obj_map[name] = obj

    def register(self, obj=None, force=False, name=None):
        if obj is None:
            def wrapper(fn_or_class):
                self._do_register(name or fn_or_class.__name__, fn_or_class, force=force)
                return fn_or_class
            return wrapper
        self._do_register(name or obj.__name__, obj, force=force)
        return obj

    def get(self, name):
        if name not in self._obj_map:
            close = difflib.get_close_matches(str(name), list(self._obj_map), n=1, cutoff=0.0)
            hint = f' Did you mean "{close[0]}"?' if close else ""
            raise KeyError(
                f'Object name "{name}" does not exist in "{self._name}" registry. '
                f"Registered: {sorted(self._obj_map)}.{hint}"
            )
        return self._obj_map[name]

    def registered_names(self):
        return list(self._obj_map.keys())

    def __contains__(self, name):
        return name in self._obj_map

    def __repr__(self):
        return f"Registry({self._name!r}, {sorted(self._obj_map)})"
