"""Why SHIP helps or not on a ToyWorld: synthesized features of a fitted generator next to real ones.

    python -m shipclip.toyworld.diagnose --generator RUN_DIR [--world design | --root R --backbone B --weights W]
        [--split design] [--per-class 50] [--seed 1] [--json OUT.json] [KEY VALUE ...]

``RUN_DIR`` is a SHIP training run's output folder (or its ``generator/`` folder); the generator
is rebuilt from ``configs/trainers/SHIP_CoOp/toyworld.yaml`` (``--config-file``), the run's own
``TRAINER.SHIP.*`` overrides recorded in its ``results.json``, and trailing ``KEY VALUE`` pairs,
then loaded. It must have been fitted on this world's classes with this world's micro-CLIP.

Reported per half (base classes, label-only = new classes), on real images of ``--split`` (by
default the world's ``design`` split, which no reported number uses) and ``--per-class``
synthesized features per class (``z ~ N(0, I)``):

* zero-shot assignment: how often the zero-shot classifier ("a photo of a {}.") assigns a feature
  of class c to c, among the half's classes (and among all classes), synthesized vs real;
* nearest real mean: how often a synthesized feature of c is closest to c's real mean;
* closeness: mean cosine of synthesized features of c to real features of c (and to c's real
  mean) vs to those of the other classes of the half; the same for real features as reference;
* spread: mean cosine between two synthesized features of one class (1.0 = posterior collapse:
  the latent is ignored), next to the same for real features;
* cosine to the class's zero-shot text feature, synthesized vs real;
* the generator's own terms on real features: reconstruction error, cosine of the reconstruction,
  KL and active latent units (posterior mean varies across inputs), for base (seen in stage 1
  only through the training images, not these) and new classes (never seen).
"""
import argparse
import json
import math
import os
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

from . import diagnostics as dx
from .cli import add_world_arguments, resolve_inputs
from .data import classnames as read_classnames, dataset_dir as dataset_folder, read_split
from .evaluate import encode_images, encode_texts, load_micro_clip
from .protocol import ReportedSplitError, check_split

__all__ = ["DEFAULT_CONFIG", "generator_folder", "load_generator", "generator_terms", "diagnose", "format_table",
           "main"]

DEFAULT_CONFIG = Path(__file__).resolve().parents[2] / "configs" / "trainers" / "SHIP_CoOp" / "toyworld.yaml"
ACTIVE_UNIT_VARIANCE = 0.01  # a latent unit is active when its posterior mean varies more than this over inputs


def generator_folder(path):
    """The folder holding ``checkpoint`` + ``model.pth.tar-N``: ``path`` itself or ``path/generator``."""
    path = Path(path)
    for folder in (path, path / "generator"):
        if (folder / "checkpoint").is_file():
            return folder
    raise FileNotFoundError(f'No saved SHIP generator in "{path}" (expected "checkpoint" there or in '
                            f'"{path / "generator"}"). Give the output folder of a SHIP training run.')


def _run_ship_opts(folder):
    """``TRAINER.SHIP.*`` overrides the run recorded in its results.json (empty when there is none)."""
    results = folder.parent / "results.json"
    if folder.name != "generator" or not results.is_file():
        return []
    with open(results, encoding="utf-8") as f:
        opts = list(json.load(f).get("run", {}).get("opts", []) or [])
    pairs = zip(opts[0::2], opts[1::2])
    return [x for key, value in pairs if str(key).startswith("TRAINER.SHIP.") for x in (key, value)]


def _ship_cfg(config_file, opts):
    from shipclip.config import get_cfg
    from shipclip.infra.config_merge import merge_from_file, merge_from_list

    cfg = get_cfg()
    merge_from_file(cfg, str(config_file))
    merge_from_list(cfg, list(opts))
    return cfg


def load_generator(path, clip_model, tokenizer, classnames, config_file=DEFAULT_CONFIG, opts=()):
    """Rebuild the saved generator over ``classnames`` and load its weights; returns ``(generator, info)``.

    Raises ``ValueError`` when the generator was fitted on another class list (another world).
    """
    from shipclip.backend import load_checkpoint
    from shipclip.ship import build_generator_from_cfg

    folder = generator_folder(path)
    checkpoint_file = folder / (folder / "checkpoint").read_text().strip()
    checkpoint = load_checkpoint(str(checkpoint_file))
    meta = checkpoint.get("ship", {})
    fitted_on = list(meta.get("classnames") or [])
    if fitted_on and fitted_on != list(classnames):
        raise ValueError(
            f"The generator in {checkpoint_file} was fitted on {len(fitted_on)} classes ({fitted_on[:3]}...) but this "
            f"world has {len(classnames)} ({list(classnames)[:3]}...): diagnose it on the world (and micro-CLIP) it "
            "was trained on."
        )
    all_opts = _run_ship_opts(folder) + list(opts)
    cfg = _ship_cfg(config_file, all_opts)
    if meta.get("generator") not in (None, str(cfg.TRAINER.SHIP.GENERATOR)):
        raise ValueError(f"{checkpoint_file} holds a {meta['generator']!r} generator but the config builds "
                         f"{cfg.TRAINER.SHIP.GENERATOR!r}; pass TRAINER.SHIP.GENERATOR {meta['generator']}.")
    generator = build_generator_from_cfg(cfg, clip_model, tokenizer, list(classnames))
    try:
        generator.load_state_dict(checkpoint["state_dict"])
    except RuntimeError as exc:
        raise ValueError(f"{checkpoint_file} does not fit the generator built from the config (sizes such as "
                         f"LATENT_DIM, ENC_HIDDEN, GEN_HIDDEN, N_CTX): {str(exc).splitlines()[0]}") from None
    generator.eval()
    info = {"checkpoint": str(checkpoint_file), "epoch": checkpoint.get("epoch"), "opts": all_opts,
            "kind": str(cfg.TRAINER.SHIP.GENERATOR), "latent_dim": generator.latent_dim,
            "lambda_kl": generator.lambda_kl}
    return generator, info


@torch.no_grad()
def generator_terms(generator, features, labels, seed=0):
    """The generator's loss terms on real features: reconstruction (``sum_d (x - x_hat)^2``), its cosine,
    KL, and active latent units; ``x_hat`` decodes one posterior sample ``z ~ q(z | x)``."""
    from shipclip.ship import make_rng

    x, x_hat, mu, logvar = generator.reconstruct(features, labels, rng=make_rng(seed))
    kl = (-0.5 * (1.0 + logvar - mu.pow(2) - logvar.exp())).sum(dim=-1)
    active = int((mu.var(dim=0) > ACTIVE_UNIT_VARIANCE).sum()) if mu.shape[0] > 1 else 0
    return {"recon": float((x - x_hat).pow(2).sum(dim=-1).mean()),
            "cosine": float(F.cosine_similarity(x, x_hat, dim=-1).mean()), "kl": float(kl.mean()),
            "active_units": active, "latent_dim": int(mu.shape[1])}


def _half_report(half, syn, syn_y, real, real_y, text, all_classes):
    """Every measure for one half (list of class indices), per class and averaged."""
    means = dx.class_means(real, real_y, len(all_classes))
    per_class = {
        "zero_shot_syn": dx.assignment_rates(syn, syn_y, text, half),
        "zero_shot_real": dx.assignment_rates(real, real_y, text, half),
        "zero_shot_syn_all": dx.assignment_rates(syn, syn_y, text, all_classes),
        "zero_shot_real_all": dx.assignment_rates(real, real_y, text, all_classes),
        "nearest_real_mean_syn": dx.assignment_rates(syn, syn_y, means, half),
        "cosine_syn": dx.cosine_to_classes(syn, syn_y, real, real_y, half),
        "cosine_real": dx.cosine_to_classes(real, real_y, real, real_y, half),
        "spread_syn": dx.within_class_spread(syn, syn_y, half),
        "spread_real": dx.within_class_spread(real, real_y, half),
        "text_cosine_syn": dx.cosine_to_rows(syn, syn_y, text, half),
        "text_cosine_real": dx.cosine_to_rows(real, real_y, text, half),
    }
    summary = {}
    for name, values in per_class.items():
        sample = next(iter(values.values()), None)
        if isinstance(sample, dict):
            for key in sample:
                summary[f"{name}.{key}"] = dx.group_mean(values, half, key)
        else:
            summary[name] = dx.group_mean(values, half)
    return summary, per_class


def diagnose(root, backbone, weights, generator_path, split="design", per_class=50, seed=1, allow_reported=False,
             config_file=DEFAULT_CONFIG, opts=(), progress=True, template="a photo of a {}."):
    """All measures as a JSON-ready dict (``summary`` per half, ``per_class`` values, generator terms)."""
    folder = dataset_folder(root)
    role = check_split(folder, split, allow_reported)
    classnames = read_classnames(folder)
    n = len(classnames)
    n_base = (n + 1) // 2
    halves = {"base": list(range(n_base)), "new": list(range(n_base, n))}

    model, transform, tokenizer = load_micro_clip(backbone, weights)
    generator, info = load_generator(generator_path, model, tokenizer, classnames, config_file, opts)
    from shipclip.ship import synthesize

    paths, labels, _ = read_split(folder, split)
    real = encode_images(model, transform, paths, progress=progress)
    real_y = torch.tensor(labels)
    text = encode_texts(model, tokenizer, classnames, template)
    syn, syn_y = synthesize(generator, list(range(n)), int(per_class), seed=seed)
    syn, syn_y = F.normalize(syn.float().cpu(), dim=-1), syn_y.cpu()

    result = {"world_split": split, "role": role, "classes": n, "base_classes": n_base, "images": len(labels),
              "synthesized_per_class": int(per_class), "seed": int(seed), "generator": info,
              "summary": {}, "per_class": {}, "generator_terms": {}}
    for name, half in halves.items():
        summary, values = _half_report(half, syn, syn_y, real, real_y, text, list(range(n)))
        result["summary"][name] = summary
        result["per_class"][name] = {key: {classnames[c]: v for c, v in vals.items()} for key, vals in values.items()}
        rows = torch.isin(real_y, torch.tensor(half))
        result["generator_terms"][name] = generator_terms(generator, real[rows], real_y[rows], seed=seed)
    return result


def _pct(value):
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{100 * value:.1f}"


def _num(value):
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.3f}"


ROWS = (
    ("zero-shot assigns to own class (%, within half)", "zero_shot_syn", "zero_shot_real", _pct),
    ("zero-shot assigns to own class (%, all classes)", "zero_shot_syn_all", "zero_shot_real_all", _pct),
    ("nearest real class mean is own class (%)", "nearest_real_mean_syn", None, _pct),
    ("cosine to real features of own class", "cosine_syn.own", "cosine_real.own", _num),
    ("cosine to real features of other classes", "cosine_syn.other", "cosine_real.other", _num),
    ("cosine to own real class mean", "cosine_syn.own_mean", "cosine_real.own_mean", _num),
    ("cosine to other real class means", "cosine_syn.other_mean", "cosine_real.other_mean", _num),
    ("within-class pairwise cosine (1 = collapse)", "spread_syn.pairwise", "spread_real.pairwise", _num),
    ("cosine to own zero-shot text feature", "text_cosine_syn", "text_cosine_real", _num),
)


def format_table(result):
    """A plain-text table: one row per measure, synthesized | real for base and new classes."""
    header = ["measure", "base: syn", "base: real", "new: syn", "new: real"]
    lines = []
    for label, syn_key, real_key, fmt in ROWS:
        cells = [label]
        for half in ("base", "new"):
            s = result["summary"][half]
            cells += [fmt(s.get(syn_key)), fmt(s.get(real_key)) if real_key else "-"]
        lines.append(cells)
    terms = result["generator_terms"]
    for key, label, fmt in (("recon", "generator recon error on real features", _num),
                            ("cosine", "generator cosine(x, x_hat)", _num), ("kl", "generator KL", _num)):
        lines.append([label, fmt(terms["base"][key]), "", fmt(terms["new"][key]), ""])
    lines.append(["active latent units", f"{terms['base']['active_units']}/{terms['base']['latent_dim']}", "",
                  f"{terms['new']['active_units']}/{terms['new']['latent_dim']}", ""])
    widths = [max(len(row[i]) for row in [header] + lines) for i in range(len(header))]
    fmt_row = lambda row: "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))  # noqa: E731
    title = (f"SHIP diagnosis: {result['world_split']} split, {result['images']} real images, "
             f"{result['synthesized_per_class']} synthesized per class, {result['classes']} classes "
             f"({result['base_classes']} base)")
    return "\n".join([title, fmt_row(header), fmt_row(["-" * w for w in widths])] + [fmt_row(r) for r in lines])


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m shipclip.toyworld.diagnose", description=__doc__.split("\n")[0])
    parser.add_argument("--generator", required=True, help="SHIP run output folder (or its generator/ folder)")
    add_world_arguments(parser)
    parser.add_argument("--per-class", type=int, default=50, help="synthesized features per class (default 50)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the synthesized latents")
    parser.add_argument("--config-file", default=str(DEFAULT_CONFIG), help="SHIP trainer config the run used")
    parser.add_argument("--json", default=None, help="also write the full result (per-class values) here")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="TRAINER.SHIP.* KEY VALUE overrides")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    try:
        root, backbone, weights = resolve_inputs(args)
        result = diagnose(root, backbone, weights, args.generator, split=args.split, per_class=args.per_class,
                          seed=args.seed, allow_reported=args.allow_reported, config_file=args.config_file,
                          opts=args.opts, progress=False)
    except (ReportedSplitError, FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(format_table(result))
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(result, f, indent=2)
    print(json.dumps({"summary": result["summary"], "generator_terms": result["generator_terms"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
