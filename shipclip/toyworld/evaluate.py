"""How hard ToyWorld is for its micro-CLIP: zero-shot accuracy, chance levels, a linear-probe ceiling.

Zero-shot follows the base-to-new protocol: *all* = every scored image among all classes, *base* =
base images among base classes, *new* = new images among new classes. The linear probe (logistic
regression on frozen, normalised image features of a K-shot base training set, scored on the base
images of the scored split) is a rough ceiling for what fine-tuning the prompt or a head can reach.

By default it scores the design world's ``design`` split (building the world if needed), which is
where choices are made (``docs/TOYWORLD.md``)::

    python -m shipclip.toyworld.evaluate                          # design world, design split
    python -m shipclip.toyworld.evaluate --world design --split test
    python -m shipclip.toyworld.evaluate --root DIR --backbone JSON --weights FILE [--split ...]

A reported world's ``val`` / ``test`` split is refused unless ``--allow-reported`` is given (then
with a warning): those numbers are results, not inputs to a choice.
"""
import argparse
import json
import random
import sys
from collections import defaultdict

import torch
import torch.nn.functional as F
from PIL import Image

from shipclip.progress import progress_bar

from .cli import add_world_arguments, resolve_inputs
from .data import classnames as read_classnames, dataset_dir as dataset_folder, read_split
from .protocol import ReportedSplitError, check_split

__all__ = ["load_micro_clip", "encode_images", "encode_texts", "zero_shot", "linear_probe", "report", "main"]


def load_micro_clip(backbone, weights):
    """Frozen model, eval transform and tokenizer through the project's loader."""
    import open_clip

    from shipclip.clip.loader import get_tokenizer, load_clip

    model = load_clip(str(backbone), pretrained=str(weights))
    size = model.visual.image_size
    mean = getattr(model.visual, "image_mean", None) or open_clip.OPENAI_DATASET_MEAN
    std = getattr(model.visual, "image_std", None) or open_clip.OPENAI_DATASET_STD
    transform = open_clip.image_transform(size, is_train=False, mean=mean, std=std)
    return model, transform, get_tokenizer(str(backbone))


@torch.no_grad()
def encode_images(model, transform, paths, batch_size=256, progress=True):
    """L2-normalised image features [N, D] of the image files ``paths``."""
    feats = []
    bar = progress_bar(range(0, len(paths), batch_size), desc="Encoding images", unit="batch", disable=not progress)
    for k in bar:
        batch = torch.stack([transform(Image.open(p).convert("RGB")) for p in paths[k:k + batch_size]])
        feats.append(F.normalize(model.encode_image(batch).float(), dim=-1))
    return torch.cat(feats)


@torch.no_grad()
def encode_texts(model, tokenizer, classnames, template="a photo of a {}."):
    """L2-normalised text features [C, D] of ``template`` filled with each class name."""
    tokens = tokenizer([template.format(c.replace("_", " ")) for c in classnames])
    return F.normalize(model.encode_text(tokens).float(), dim=-1)


def zero_shot(image_feats, labels, text_feats, classes):
    """Top-1 accuracy of images whose label is in ``classes``, classified among ``classes`` only."""
    classes = list(classes)
    rows = torch.tensor([int(l) in set(classes) for l in labels.tolist()])
    pred = (image_feats[rows] @ text_feats[classes].t()).argmax(dim=-1)
    target = torch.tensor([classes.index(int(l)) for l in labels[rows].tolist()])
    return float((pred == target).float().mean()), pred, target


def linear_probe(train_x, train_y, test_x, test_y, steps=300, lr=0.05, weight_decay=1e-4, seed=0):
    """Multinomial logistic regression (full batch, Adam) on frozen features; test top-1."""
    g = torch.Generator().manual_seed(seed)
    n_cls = int(max(train_y.max(), test_y.max())) + 1
    w = (torch.randn(train_x.shape[1], n_cls, generator=g) * 0.01).requires_grad_()
    b = torch.zeros(n_cls, requires_grad=True)
    opt = torch.optim.Adam([w, b], lr=lr, weight_decay=weight_decay)
    scale = 10.0  # features are unit-norm: a fixed temperature speeds up the fit
    for _ in range(steps):
        loss = F.cross_entropy(scale * train_x @ w + b, train_y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        return float(((scale * test_x @ w + b).argmax(dim=-1) == test_y).float().mean())


def report(root, backbone, weights, shots=16, seed=1, template="a photo of a {}.", progress=True, split="design",
           allow_reported=False):
    """Zero-shot (all / base / new), chance levels, attribute accuracies and the linear-probe ceiling on ``split``.

    Raises :class:`~shipclip.toyworld.protocol.ReportedSplitError` for a reported world's val/test
    split unless ``allow_reported``.
    """
    folder = dataset_folder(root)
    role = check_split(folder, split, allow_reported)
    classnames = read_classnames(folder)
    n = len(classnames)
    n_base = (n + 1) // 2
    base, new = list(range(n_base)), list(range(n_base, n))

    model, transform, tokenizer = load_micro_clip(backbone, weights)
    text = encode_texts(model, tokenizer, classnames, template)
    paths, labels, _ = read_split(folder, split)
    test_x = encode_images(model, transform, paths, progress=progress)
    test_y = torch.tensor(labels)

    acc_all, pred_all, target_all = zero_shot(test_x, test_y, text, range(n))
    acc_base, _, _ = zero_shot(test_x, test_y, text, base)
    acc_new, _, _ = zero_shot(test_x, test_y, text, new)
    pred_names = [classnames[i].split(" ") for i in pred_all.tolist()]
    true_names = [classnames[i].split(" ") for i in target_all.tolist()]
    color_acc = sum(p[0] == t[0] for p, t in zip(pred_names, true_names)) / len(true_names)
    shape_acc = sum(p[1] == t[1] for p, t in zip(pred_names, true_names)) / len(true_names)

    # K-shot base training set (python random, per class), as the trainers would sample it.
    rnd = random.Random(seed)
    by_label = defaultdict(list)
    for path, label, _ in zip(*read_split(folder, "train")):
        if label < n_base:
            by_label[label].append(path)
    picked = [(p, lab) for lab, items in by_label.items() for p in rnd.sample(items, min(shots, len(items)))]
    train_x = encode_images(model, transform, [p for p, _ in picked], progress=progress)
    train_y = torch.tensor([lab for _, lab in picked])
    rows = test_y < n_base
    probe = linear_probe(train_x, train_y, test_x[rows], test_y[rows], seed=seed)

    return {
        "split": split, "role": role, "classes": n, "base_classes": n_base, "new_classes": n - n_base,
        "images": len(test_y), "template": template,
        "zero_shot": {"all": acc_all, "base": acc_base, "new": acc_new},
        "chance": {"all": 1 / n, "base": 1 / n_base, "new": 1 / max(n - n_base, 1)},
        "zero_shot_attributes": {"color": color_acc, "shape": shape_acc},
        "linear_probe_base": {"shots": shots, "accuracy": probe},
    }


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m shipclip.toyworld.evaluate", description=__doc__.split("\n")[0])
    add_world_arguments(parser)
    parser.add_argument("--shots", type=int, default=16)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    try:
        root, backbone, weights = resolve_inputs(args)
        result = report(root, backbone, weights, shots=args.shots, seed=args.seed, split=args.split,
                        allow_reported=args.allow_reported)
    except (ReportedSplitError, FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{result['split']} split ({result['images']} images, {result['role']} world)")
    zs, ch = result["zero_shot"], result["chance"]
    print(f"zero-shot top-1 ({result['template']!r}): all {100 * zs['all']:.1f}% (chance {100 * ch['all']:.1f}%), "
          f"base {100 * zs['base']:.1f}% (chance {100 * ch['base']:.1f}%), "
          f"new {100 * zs['new']:.1f}% (chance {100 * ch['new']:.1f}%)")
    attr = result["zero_shot_attributes"]
    print(f"zero-shot attributes (all classes): colour {100 * attr['color']:.1f}%, shape {100 * attr['shape']:.1f}%")
    lp = result["linear_probe_base"]
    print(f"linear probe, {lp['shots']}-shot base train -> base {result['split']}: {100 * lp['accuracy']:.1f}%")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
