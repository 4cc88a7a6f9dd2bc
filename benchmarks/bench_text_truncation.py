"""Text tower truncated to the longest EOT vs run at the full 77 positions, for real class-name prompts.

Two prompt kinds over ``--classes`` ImageNet class names, both built by ``ClassPrompts`` (tokenised
once) with a learnable context in the slots:

* ``"a photo of a {}."``: 4 context slots initialised from the words "a photo of a", so the prompt is
  exactly the zero-shot sentence;
* CoOp: 16 ``"X"`` context slots (random context), CoOp's default.

For each, two workloads: the forward pass under ``no_grad`` (evaluation, zero-shot classifier) and
forward + backward into the context (a CoOp training step's text part). Full length =
``TextEncoder(truncate=False)``; truncated = ``TextEncoder()``, the project's default. The outputs of
both are compared (the truncation is exact up to float rounding).

    python benchmarks/bench_text_truncation.py [--quick] [--threads N] [--classes C] [--repeats R]
"""
import os
import sys

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import common  # noqa: E402

TARGET = 3.0
TEMPLATES = {
    "photo": dict(label='"a photo of a {}."', n_ctx=4, placeholder="a photo of a", init="words"),
    "coop": dict(label='CoOp 16 x "X" + " {}."', n_ctx=16, placeholder=" ".join(["X"] * 16), init="random"),
}
LENGTHS = ("full", "truncated")
PHASES = ("no-grad", "fwd+bwd")
VARIANT_NAMES = [f"{t}-{length}" for t in TEMPLATES for length in LENGTHS]
WARMUP_ROWS = 8  # the untimed warm-up call runs this many prompts at the variant's length


def run_variant(name, args, work, meter):
    """One prompt kind at one length: time the no-grad and the fwd+bwd workloads."""
    import torch
    import torch.nn as nn

    from shipclip.clip.prompts import ClassPrompts
    from shipclip.clip.text import TextEncoder

    template, length = name.rsplit("-", 1)
    spec = TEMPLATES[template]
    model, tokenizer, backbone = common.load_backbone(args, work)
    model.visual = nn.Identity()  # only the text tower is measured; free the image tower's weights
    encoder = TextEncoder(model, truncate=(length == "truncated"))
    prompts = ClassPrompts(encoder, tokenizer, common.CLASSNAMES[: args.classes], spec["n_ctx"],
                           placeholder=spec["placeholder"])
    if spec["init"] == "words":
        ctx = encoder.embed(tokenizer([spec["placeholder"]]))[0, 1:1 + spec["n_ctx"]].float()
    else:
        ctx = torch.empty(spec["n_ctx"], encoder.width).normal_(std=0.02, generator=torch.Generator().manual_seed(0))
    ctx = nn.Parameter(ctx.clone())
    rows = torch.arange(min(WARMUP_ROWS, prompts.n_cls))
    ctx_rows = ctx.unsqueeze(0).expand(len(rows), -1, -1)

    def forward(index=None):
        if index is None:
            return encoder(*prompts.assemble(ctx))
        return encoder(*prompts.assemble(ctx_rows, class_index=index))

    def step(index=None):
        ctx.grad = None
        forward(index).float().pow(2).sum().backward()

    with meter.phase("no-grad"):
        with torch.no_grad():
            nograd = common.time_calls(forward, args.repeats, warmup=lambda: forward(rows))
            features = common.save_array(work, name, forward())
    with meter.phase("fwd+bwd"):
        fwdbwd = common.time_calls(step, args.repeats, warmup=lambda: step(rows))
    return {"backbone": backbone, "length": int(prompts.length), "context_length": int(prompts.full_length),
            "classes": int(prompts.n_cls), "no-grad": nograd, "fwd+bwd": fwdbwd, "features": features}


VARIANTS = {name: run_variant for name in VARIANT_NAMES}


def report(results, args):
    for template, spec in TEMPLATES.items():
        full, trunc = results[f"{template}-full"], results[f"{template}-truncated"]
        print(f"-- {spec['label']}: {trunc['classes']} prompts, truncated length L = {trunc['length']} "
              f"of {full['length']}")
        for phase in PHASES:
            common.ratio_line(f"text {phase}, {spec['label']}", "full", full[phase]["best_s"],
                              "truncated", trunc[phase]["best_s"], target=TARGET, quick=args.quick,
                              cpu=(full[phase]["cpu_best_s"], trunc[phase]["cpu_best_s"]))
        a, b = common.load_array(full["features"]), common.load_array(trunc["features"])
        diff = float(abs(a - b).max())
        print(f"CHECK {spec['label']}: max |full - truncated| = {diff:.2e} over {a.shape[0]} x {a.shape[1]} "
              f"features (max |feature| {float(abs(a).max()):.2f})")
        for length in LENGTHS:
            common.memory_lines(f"text {spec['label']}, {length}", results[f"{template}-{length}"])


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = common.build_parser(__doc__.splitlines()[0])
    parser.add_argument("--classes", type=int, default=None, help="number of class names (default 100; quick 10)")
    parser.add_argument("--repeats", type=int, default=None, help="timed calls per workload, the fastest is "
                        "reported (default 3; quick 1)")
    args = common.fill_defaults(parser.parse_args(argv), dict(classes=100, repeats=3), dict(classes=10, repeats=1))
    if not 1 <= args.classes <= len(common.CLASSNAMES):
        raise SystemExit(f"--classes must be between 1 and {len(common.CLASSNAMES)}, got {args.classes}")
    if args.child:
        return common.child_main(VARIANTS, args)
    common.print_header(
        "Text tower: truncated to the longest EOT vs full length 77",
        args, [f"backbone: {'tiny test model' if args.quick else 'ViT-B-16'} (random weights); {args.classes} "
               f"class names; best of {args.repeats} call(s) after an untimed {WARMUP_ROWS}-prompt warm-up"])
    with common.work_folder(args) as work:
        results = common.run_variants(__file__, argv, args, VARIANTS, work)
        print(f"   {common.load_line('end')}")
        report(results, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
