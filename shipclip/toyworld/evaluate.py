"""How hard ToyWorld is for its micro-CLIP: zero-shot accuracy, chance levels, a linear-probe ceiling.

Zero-shot follows the base-to-new protocol: *all* = every test image among all classes, *base* =
base test images among base classes, *new* = new test images among new classes. The linear probe
(logistic regression on frozen, normalised image features of a K-shot base training set, scored on
base test images) is a rough ceiling for what fine-tuning the prompt or a head can reach.

Run ``python -m shipclip.toyworld.evaluate --root DIR --backbone JSON --weights FILE`` (the three
values ``prepare`` prints), or call :func:`report`.
"""
import argparse
import json
import os
import random
from collections import defaultdict

import torch
import torch.nn.functional as F
from PIL import Image
from tqdm import tqdm

from .build import DATASET_FOLDER, SPLIT_FILE

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
    bar = tqdm(range(0, len(paths), batch_size), desc="Encoding images", unit="batch", disable=not progress)
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


def _read_split(dataset_dir):
    path = os.path.join(dataset_dir, SPLIT_FILE)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path} not found. Build ToyWorld first: python -m shipclip.toyworld.prepare")
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def report(root, backbone, weights, shots=16, seed=1, template="a photo of a {}.", progress=True):
    """Zero-shot (all / base / new), chance levels, attribute accuracies and the linear-probe ceiling."""
    dataset_dir = os.path.join(os.path.abspath(os.path.expanduser(str(root))), DATASET_FOLDER)
    split = _read_split(dataset_dir)
    image_dir = os.path.join(dataset_dir, "images")
    names = {}
    for _, label, name in split["train"] + split["test"]:
        names[int(label)] = name
    classnames = [names[k] for k in sorted(names)]
    n = len(classnames)
    n_base = (n + 1) // 2
    base, new = list(range(n_base)), list(range(n_base, n))

    model, transform, tokenizer = load_micro_clip(backbone, weights)
    text = encode_texts(model, tokenizer, classnames, template)
    test_x = encode_images(model, transform, [os.path.join(image_dir, p) for p, _, _ in split["test"]],
                           progress=progress)
    test_y = torch.tensor([int(l) for _, l, _ in split["test"]])

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
    for rel, label, _ in split["train"]:
        if int(label) < n_base:
            by_label[int(label)].append(rel)
    picked = [(rel, lab) for lab, rels in by_label.items() for rel in rnd.sample(rels, min(shots, len(rels)))]
    train_x = encode_images(model, transform, [os.path.join(image_dir, r) for r, _ in picked], progress=progress)
    train_y = torch.tensor([lab for _, lab in picked])
    rows = test_y < n_base
    probe = linear_probe(train_x, train_y, test_x[rows], test_y[rows], seed=seed)

    return {
        "classes": n, "base_classes": n_base, "new_classes": n - n_base,
        "test_images": len(test_y), "template": template,
        "zero_shot": {"all": acc_all, "base": acc_base, "new": acc_new},
        "chance": {"all": 1 / n, "base": 1 / n_base, "new": 1 / max(n - n_base, 1)},
        "zero_shot_attributes": {"color": color_acc, "shape": shape_acc},
        "linear_probe_base": {"shots": shots, "accuracy": probe},
    }


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m shipclip.toyworld.evaluate", description=__doc__.split("\n")[0])
    parser.add_argument("--root", required=True, help="dataset root (TOYWORLD_ROOT)")
    parser.add_argument("--backbone", required=True, help="model-config JSON (TOYWORLD_BACKBONE)")
    parser.add_argument("--weights", required=True, help="checkpoint (TOYWORLD_WEIGHTS)")
    parser.add_argument("--shots", type=int, default=16)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    result = report(args.root, args.backbone, args.weights, shots=args.shots, seed=args.seed)
    zs, ch = result["zero_shot"], result["chance"]
    print(f"zero-shot top-1 ({result['template']!r}): all {100 * zs['all']:.1f}% (chance {100 * ch['all']:.1f}%), "
          f"base {100 * zs['base']:.1f}% (chance {100 * ch['base']:.1f}%), "
          f"new {100 * zs['new']:.1f}% (chance {100 * ch['new']:.1f}%)")
    attr = result["zero_shot_attributes"]
    print(f"zero-shot attributes (all classes): colour {100 * attr['color']:.1f}%, shape {100 * attr['shape']:.1f}%")
    lp = result["linear_probe_base"]
    print(f"linear probe, {lp['shots']}-shot base train -> base test: {100 * lp['accuracy']:.1f}%")
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
