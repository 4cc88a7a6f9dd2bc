"""A fitted generator on disk: ``<run>/generator/`` with Dassl's checkpoint layout.

``model.pth.tar-<EPOCHS>`` holds ``state_dict`` (the generator's own tensors only, never CLIP's)
and a ``ship`` entry (generator kind, class list, trainer); the ``checkpoint`` pointer names it.
A resumed run reuses its own saved generator; ``TRAINER.SHIP.GENERATOR_DIR`` reuses another run's.
"""
import os.path as osp

__all__ = ["GENERATOR_FOLDER", "generator_dir", "saved_generator_dir", "save_generator", "load_generator"]

GENERATOR_FOLDER = "generator"


def generator_dir(output_dir):
    return osp.join(output_dir, GENERATOR_FOLDER)


def saved_generator_dir(cfg, output_dir):
    """A folder holding a saved generator to reuse: ``GENERATOR_DIR``, else this run's own (resume), else None."""
    reuse = str(cfg.TRAINER.SHIP.GENERATOR_DIR)
    if reuse:
        folder = reuse if osp.basename(osp.normpath(reuse)) == GENERATOR_FOLDER else osp.join(reuse, GENERATOR_FOLDER)
        if not osp.isfile(osp.join(folder, "checkpoint")):
            raise FileNotFoundError(
                f'TRAINER.SHIP.GENERATOR_DIR is "{reuse}" but no saved generator was found in "{folder}" '
                "(expected a 'checkpoint' pointer file and model.pth.tar-<N>). Point it at the output folder of "
                "a SHIP training run."
            )
        return folder
    own = generator_dir(output_dir)
    return own if osp.isfile(osp.join(own, "checkpoint")) else None


def save_generator(generator, cfg, output_dir, trainer_name):
    """Write the generator (mode ``open()`` would give, atomically) and return the file path."""
    from shipclip.infra.checkpoint import save_checkpoint

    ship = cfg.TRAINER.SHIP
    state = {"state_dict": generator.state_dict(), "epoch": int(ship.EPOCHS), "optimizer": None,
             "scheduler": None, "val_result": None,
             "ship": {"generator": str(ship.GENERATOR), "classnames": list(generator.classnames),
                      "trainer": str(trainer_name)}}
    return save_checkpoint(state, generator_dir(output_dir))


def load_generator(generator, cfg, folder):
    """Load the generator saved in ``folder`` into ``generator``; explain a mismatch with the settings."""
    from shipclip.infra.checkpoint import load_checkpoint

    with open(osp.join(folder, "checkpoint")) as f:
        path = osp.join(folder, f.read().strip())
    checkpoint = load_checkpoint(path)
    meta = checkpoint.get("ship", {})
    if meta.get("generator") not in (None, str(cfg.TRAINER.SHIP.GENERATOR)):
        raise ValueError(f'The generator in "{path}" is a {meta.get("generator")!r} generator but '
                         f"TRAINER.SHIP.GENERATOR is {cfg.TRAINER.SHIP.GENERATOR!r}.")
    try:
        generator.load_state_dict(checkpoint["state_dict"])
    except RuntimeError as exc:
        raise ValueError(
            f'The generator in "{path}" does not fit the current settings (backbone or TRAINER.SHIP sizes such '
            f"as LATENT_DIM, ENC_HIDDEN, GEN_HIDDEN, N_CTX): {str(exc).splitlines()[0]}"
        ) from None
    print(f'SHIP stage 1: loaded the generator from "{path}" (fitting skipped)')
    return path
