"""The package layering holds: one switch picks the engine, infrastructure sits below both engines.

* Only ``shipclip/backend.py`` imports an engine (``dassl`` or ``shipclip.engine``); trainers,
  datasets, scripts, benchmarks and the rest of the package import engine names from it.
* ``shipclip/infra`` (used under both engines) imports nothing of the project outside itself.
* The built-in engine never imports upwards (``shipclip.backend``, trainers, datasets, data path).

Imports are read from the source with ``ast`` (also the ones inside functions), so a lazy import
cannot slip past.
"""
import ast
import os

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PRODUCT_DIRS = ("shipclip", "trainers", "datasets", "scripts", "benchmarks", "shipclip_testing")
ENGINE_MODULES = ("dassl", "shipclip.engine")


def python_files(*folders):
    for folder in folders:
        for root, _, files in os.walk(os.path.join(REPO, folder)):
            for name in files:
                if name.endswith(".py"):
                    yield os.path.relpath(os.path.join(root, name), REPO)


def module_name(path):
    parts = path[:-3].split(os.sep)
    if parts[0] in ("trainers", "datasets"):
        parts = ["shipclip"] + parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imported_modules(path, repo=REPO):
    """Absolute names of every module ``path`` (relative to ``repo``) imports, relative imports resolved."""
    tree = ast.parse(open(os.path.join(repo, path), encoding="utf-8").read(), filename=path)
    package = module_name(path).split(".")
    if not path.endswith("__init__.py"):
        package = package[:-1]
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module
            names.append(module)
            names.extend(f"{module}.{alias.name}" for alias in node.names)
    return names


def starts_with(name, prefixes):
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def test_import_scanner_resolves_relative_and_lazy_imports(tmp_path):
    folder = tmp_path / "shipclip" / "pkg"
    folder.mkdir(parents=True)
    (folder / "mod.py").write_text("from .sibling import x\n\ndef f():\n    from shipclip.engine import TrainerX\n"
                                   "    import dassl.engine\n")
    names = imported_modules(os.path.join("shipclip", "pkg", "mod.py"), repo=str(tmp_path))
    assert {"shipclip.pkg.sibling", "shipclip.engine", "dassl.engine"} <= set(names)


@pytest.mark.parametrize("path", sorted(p for p in python_files(*PRODUCT_DIRS)
                                        if not p.startswith(os.path.join("shipclip", "engine") + os.sep)
                                        and p != os.path.join("shipclip", "backend.py")))
def test_only_the_backend_imports_an_engine(path):
    offending = sorted({n for n in imported_modules(path) if starts_with(n, ENGINE_MODULES)})
    assert not offending, (f"{path} imports {offending}: import engine names from shipclip.backend, the one place "
                           "that decides between real Dassl and the built-in engine.")


def test_train_py_imports_no_engine_directly():
    offending = sorted({n for n in imported_modules("train.py") if starts_with(n, ENGINE_MODULES)})
    assert not offending


@pytest.mark.parametrize("path", sorted(python_files(os.path.join("shipclip", "infra"))))
def test_infra_imports_nothing_of_the_project_above_it(path):
    ours = {n for n in imported_modules(path) if starts_with(n, ("shipclip",))}
    offending = sorted(n for n in ours if not starts_with(n, ("shipclip.infra",)))
    assert not offending, f"{path} (used under both engines) imports {offending}"


@pytest.mark.parametrize("path", sorted(python_files(os.path.join("shipclip", "engine"))))
def test_builtin_engine_never_imports_upwards(path):
    upward = ("shipclip.backend", "shipclip.trainers", "shipclip.datasets", "shipclip.data", "shipclip.ship",
              "shipclip.results", "shipclip.clip")
    offending = sorted({n for n in imported_modules(path) if starts_with(n, upward)})
    assert not offending, f"{path} (the Dassl fallback) imports {offending}"
