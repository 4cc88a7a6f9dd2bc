"""Our SHIP_CoOp stage-2 step vs the per-step work of the released SHIP code, reimplemented here.

Two identical SHIP_CoOp trainers are built (released recipe, random ViT-B-16, ``--classes`` base + as
many label-only classes, the same generator), one per variant; both run the same batches of
``--batch-size`` augmented real images (CoOp's 32; the released code uses 256) plus as many synthesized
label-only features (SYN_RATIO 1), with the same random draws, step after step in interleaved rounds.

* ``released``: what the released code does at every step -- encode the batch images through the
  frozen image tower, re-tokenise every class prompt, run the text tower at the full 77 positions for
  the CoOp prompts of all classes (with backward into the context), and synthesize the label-only
  features through the generator at full length (its prompts re-tokenised too).
* ``ours``: ``trainer.forward_backward`` on cached features (those of the same images, as the cache
  holds them; computing them is the cache's one-off job, see bench_feature_cache.py): prompts tokenised
  once, text tower and generator truncated to the longest EOT.

``--imagenet`` is the ImageNet size: 500 base + 500 label-only classes named by ImageNet's own class
names (open_clip's ``IMAGENET_CLASSNAMES``, so the prompt lengths are ImageNet's), one training image
per class stored at 32 px (the transforms resize it; the image tower's cost does not depend on content)
and 1 timed step by default: the released step runs the text tower at 77 positions with a backward pass
for 1000 prompts, minutes on a CPU.

Data loading is excluded from both (the batches are prepared in advance), which favours ``released``.
The first step is a warm-up left out of the timing (its memory is the one reported); the fastest of
the ``--steps`` others is reported. The losses of both variants, step by step, and their class text
features before the first step are compared: they must agree up to float rounding.

    python benchmarks/bench_ship_step.py [--quick] [--threads N] [--classes C] [--batch-size B] [--steps S]
    python benchmarks/bench_ship_step.py --imagenet [--threads N] [--batch-size B] [--steps S]
"""
import os
import sys

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import common, workloads  # noqa: E402

TARGET = 10.0
IMAGENET_TARGET = 5.0
VARIANTS = ("released", "ours")


class ReleasedStep:
    """The released code's per-step work, on the trainer's own weights, optimizer and random stream."""

    def __init__(self, trainer):
        from shipclip.clip.prompts import clean_classname
        from shipclip.clip.text import TextEncoder

        self.trainer = trainer
        self.text_full = TextEncoder(trainer.clip_model, truncate=False)  # the full 77 positions
        self.classnames = [clean_classname(c) for c in trainer.get_train_classnames()]
        self.coop_placeholder = trainer.prompt_learner.placeholder
        self.coop_n_ctx = trainer.prompt_learner.n_ctx
        gen = trainer.generator
        self.gen_n_ctx = gen.n_ctx
        self.gen_placeholder = " ".join(["X"] * gen.n_ctx)
        self.image_features = []  # what each step encoded: the cache would hold exactly these

    def _embed(self, texts):
        """Tokenise and embed (every call: the released code does not keep the tokens)."""
        import torch

        tokens = self.trainer.tokenizer(texts)
        with torch.no_grad():
            return self.text_full.token_embedding(tokens), tokens

    def _encode(self, ctx, texts, n_ctx):
        import torch

        embedding, tokens = self._embed(texts)
        if ctx.dim() == 2:
            ctx = ctx.unsqueeze(0).expand(embedding.shape[0], -1, -1)
        prompts = torch.cat([embedding[:, :1], ctx.to(embedding.dtype), embedding[:, 1 + n_ctx:]], dim=1)
        return self.text_full(prompts, tokens).float()

    def text_features(self):
        """Normalised CoOp class features [C, D] at full length (with the gradient into the context)."""
        import torch.nn.functional as F

        texts = [f"{self.coop_placeholder} {name}." for name in self.classnames]
        return F.normalize(self._encode(self.trainer.prompt_learner.ctx, texts, self.coop_n_ctx), dim=-1)

    def synthesize(self, n):
        """``n`` label-only features: labels, then latents, drawn from the trainer's stream in its order."""
        import torch
        import torch.nn.functional as F

        t = self.trainer
        indices = t.label_only_indices()
        labels = indices[torch.randint(len(indices), (n,), generator=t.syn_rng)]
        gen = t.generator
        with torch.no_grad():
            z = torch.randn((n, gen.latent_dim), generator=t.syn_rng).to(gen.device, gen.dtype)
            texts = [f"{self.gen_placeholder} {self.classnames[i]}." for i in labels.tolist()]
            features = F.normalize(self._encode(gen.context(z), texts, self.gen_n_ctx), dim=-1)
        return features, labels

    def __call__(self, images, labels):
        import torch
        import torch.nn.functional as F

        t = self.trainer
        with torch.no_grad():
            encoded = t.clip_model.encode_image(images).float()
        self.image_features.append(encoded)
        real = F.normalize(encoded, dim=-1)
        syn, syn_labels = self.synthesize(real.shape[0])
        logits = t.logit_scale * torch.cat([real, syn]) @ self.text_features().t()
        loss = F.cross_entropy(logits, torch.cat([labels, syn_labels]))
        t.optim.zero_grad()
        loss.backward()
        t.optim.step()
        return float(loss.detach())


def run(args, work, log):
    import torch

    with common.quiet(log):
        _prepare_data(args, work)
        trainers = {name: _trainer(args, work, name) for name in VARIANTS}
        batches = _collect_batches(trainers["ours"], args.steps + 1)
    released, ours = ReleasedStep(trainers["released"]), trainers["ours"]
    with torch.no_grad():
        text = {"released": released.text_features(), "ours": ours.text_features(ours.get_train_classnames())}
    losses = {name: [] for name in VARIANTS}

    def released_step():
        images, labels = batches[len(losses["released"])]
        losses["released"].append(released(images, labels))

    def our_step():
        # The features of this round's batch, as the cache serves them (the released step of the same
        # round has just encoded these very images; ours never runs the image tower).
        r = len(losses["ours"])
        x = released.image_features[r]
        losses["ours"].append(ours.forward_backward({"feature": x, "label": batches[r][1]})["loss"])

    for trainer in trainers.values():
        trainer.epoch, trainer.max_epoch, trainer.batch_idx, trainer.num_batches = 0, 1, 0, args.steps + 2
        trainer.before_epoch()  # seeds the synthetic stream: both draw the same labels and latents
    n_real = int(batches[0][1].shape[0])
    print(f"-- {len(ours.get_train_classnames())} classes (base + label-only); per step {n_real} real + {n_real} "
          f"synthesized features; best of {args.steps} step(s) after 1 warm-up step")
    meter = common.Meter()
    times = common.interleaved({"released": released_step, "ours": our_step}, args.steps + 1, meter=meter, skip=1,
                               desc="steps", log=log)
    name = "SHIP_CoOp stage-2 step" + (" at ImageNet size" if args.imagenet else "")
    common.ratio_line(f"{name}, ours vs released per-step work", "released", times["released"],
                      "ours", times["ours"], target=IMAGENET_TARGET if args.imagenet else TARGET, quick=args.quick)
    loss_diff = max(abs(a - b) for a, b in zip(losses["released"], losses["ours"]))
    text_diff = float((text["released"] - text["ours"]).abs().max())
    print(f"CHECK same work: max |loss released - loss ours| over {len(losses['ours'])} steps = {loss_diff:.2e} "
          f"(first loss {losses['ours'][0]:.4f}); max |class text features| difference = {text_diff:.2e}")
    for name in VARIANTS:
        common.memory_line(f"SHIP_CoOp step, {name}", meter.memory[name])


def classnames(args):
    """``2 * args.classes`` names: the benchmarks' 100 mixed names, or ImageNet's own beyond 50 base classes
    (a repeated name gets a " 2": the dataset refuses duplicate class names)."""
    if 2 * args.classes <= len(workloads.CLASSNAMES):
        return workloads.CLASSNAMES[: 2 * args.classes]
    import open_clip

    names, seen = [], set()
    for name in open_clip.IMAGENET_CLASSNAMES[: 2 * args.classes]:
        names.append(name if name not in seen else f"{name} 2")  # the list names two classes "missile", two "sunglasses"
        seen.add(name)
    return names


def _prepare_data(args, work):
    """Base classes first, then as many label-only ones; ``args.shots`` training images per class."""
    size = 40 if args.quick else (32 if args.imagenet else 224)  # stored size; the transforms resize
    workloads.write_image_dataset(os.path.join(work, "data"), classnames(args), {"train": args.shots, "val": 1, "test": 1},
                               size)


def _trainer(args, work, name):
    """A trainer after stage 1; the seeded build makes every trainer (and its generator) identical."""
    trainer = workloads.ship_coop_trainer(args, work, name)
    trainer.before_train()  # stage 1 (generator on random features)
    return trainer


def _collect_batches(trainer, n):
    """``n`` (images, labels) batches from the trainer's augmented training loader (cycled if needed)."""
    batches = []
    while len(batches) < n:
        for batch in trainer.train_loader_x:
            batches.append((batch["img"], batch["label"]))
            if len(batches) == n:
                break
    return batches



def main(argv=None):
    import open_clip

    parser = common.build_parser(__doc__.splitlines()[0])
    workloads.add_ship_size_arguments(parser)
    parser.add_argument("--steps", type=int, default=None,
                        help="timed steps after the warm-up step (default 3; --imagenet 1; quick 1)")
    parser.add_argument("--imagenet", action="store_true",
                        help="ImageNet size: 500 base + 500 label-only classes with ImageNet's class names, "
                             "1 training image per class (32 px), 1 timed step")
    args = parser.parse_args(argv)
    full = dict(classes=10, shots=4, batch_size=32, steps=3)
    if args.imagenet:
        full = dict(classes=500, shots=1, batch_size=32, steps=1)
    args = common.fill_defaults(args, full, dict(classes=2, shots=2, batch_size=2, steps=1))
    common.require_positive(args, ("classes", "shots", "batch_size", "steps"))
    if 2 * args.classes > len(open_clip.IMAGENET_CLASSNAMES):
        raise SystemExit(f"--classes must be at most {len(open_clip.IMAGENET_CLASSNAMES) // 2}, got {args.classes}")
    names = "ImageNet's class names" if 2 * args.classes > len(workloads.CLASSNAMES) else "mixed ImageNet class names"
    return common.run_benchmark(
        args, "SHIP_CoOp stage-2 step: ours vs the released code's per-step work",
        f"{args.classes} base + {args.classes} label-only classes ({names}); batch {args.batch_size} real + "
        f"{args.batch_size} synthesized", run)


if __name__ == "__main__":
    sys.exit(main())
