"""What the invariant tests share: a record of every image the image tower saw, the colour dataset's own split
file, and decodes of prompts computed with open_clip's modules directly (never with the code under test).

Helpers are fixtures (not imports) so that test modules never import each other.
"""
import json
import os

import open_clip
import pytest
import torch
import torch.nn.functional as F

from shipclip_testing.fake_datasets import COLOR_CLASSES, COLOR_FOLDER, COLOR_SPLIT_FILE

BASE, NEW = list(COLOR_CLASSES[:3]), list(COLOR_CLASSES[3:])
TINY_SHIP = ["TRAINER.SHIP.ENC_HIDDEN", "32", "TRAINER.SHIP.LATENT_DIM", "8", "TRAINER.SHIP.GEN_HIDDEN", "32",
             "TRAINER.SHIP.EPOCHS", "2", "TRAINER.SHIP.BATCH_SIZE", "8", "TRAINER.SHIP.N_CTX", "2",
             "TRAINER.SHIP.SYN_PER_CLASS", "3", "TRAINER.TIP.AUGMENT_EPOCH", "2", "TRAINER.TIP.SEARCH_STEP", "[4, 3]",
             "TRAINER.COOP.N_CTX", "2", "TRAINER.COCOOP.N_CTX", "2", "OPTIM.MAX_EPOCH", "2",
             "INPUT.TRANSFORMS", "['random_resized_crop', 'random_flip', 'normalize']"]


class ColourSplit:
    """The colour dataset as its split file describes it: absolute image path -> (part, class name)."""

    def __init__(self, root):
        folder = os.path.join(str(root), COLOR_FOLDER)
        with open(os.path.join(folder, COLOR_SPLIT_FILE)) as f:
            split = json.load(f)
        self.image_dir = os.path.join(folder, "images")
        self.where = {os.path.join(self.image_dir, rel): (part, name)
                      for part, rows in split.items() for rel, _, name in rows}

    def paths(self, part, classes):
        return {p for p, (where, name) in self.where.items() if where == part and name in classes}


class ImageTrace:
    """Every image the frozen image tower encodes, paired with the file it was read from.

    ``read_image`` of the engine's dataset wrapper queues each path it opens; each call of open_clip's
    image tower takes as many queued paths as it has images (loaders run in-process, in order). A
    feature handed to any consumer can then be traced back to its image by its value alone.
    """

    def __init__(self):
        self.pending, self.paths, self.features = [], [], []

    def read(self, path):
        self.pending.append(os.path.abspath(path))

    def encoded(self, output):
        n = output.shape[0]
        if len(self.pending) < n:
            raise AssertionError(f"the image tower encoded {n} images but only {len(self.pending)} were read")
        self.paths.extend(self.pending[:n])
        del self.pending[:n]
        self.features.append(F.normalize(output.detach().float().reshape(n, -1), dim=-1))

    def identify(self, rows):
        """The image path of every row (a feature of some encoded view); fails on a row no image produced."""
        rows = F.normalize(torch.as_tensor(rows).detach().float().reshape(-1, self.features[0].shape[1]), dim=-1)
        bank = torch.cat(self.features)
        cos = rows @ bank.T
        found = []
        for i in range(rows.shape[0]):
            hits = (cos[i] > 1 - 1e-5).nonzero().flatten().tolist()
            paths = {self.paths[j] for j in hits}
            if len(paths) != 1:
                raise AssertionError(f"row {i} matches {len(paths)} encoded images (best cosine {float(cos[i].max()):.6f})")
            found.append(paths.pop())
        return found


@pytest.fixture
def tiny_ship():
    """Options that make every SHIP and Tip-Adapter run tiny (generator sizes, epochs, search grid)."""
    return list(TINY_SHIP)


@pytest.fixture
def colour_split(color_root):
    return ColourSplit(color_root)


@pytest.fixture
def image_trace(monkeypatch):
    """Start recording (path, feature) pairs of every image-tower call; returns the :class:`ImageTrace`."""
    import shipclip.engine.data.manager as manager
    from open_clip.transformer import VisionTransformer

    trace = ImageTrace()
    read_image = manager.read_image

    def traced_read(path):
        trace.read(path)
        return read_image(path)

    forward = VisionTransformer.forward

    def traced_forward(self, x, *args, **kwargs):
        out = forward(self, x, *args, **kwargs)
        trace.encoded(out[0] if isinstance(out, tuple) else out)
        return out

    monkeypatch.setattr(manager, "read_image", traced_read)
    monkeypatch.setattr(VisionTransformer, "forward", traced_forward)
    return trace


@pytest.fixture
def record_calls(monkeypatch):
    """``record_calls(cls, name, keep)``: wrap a method; ``keep(self, args, result)`` returns what to store."""
    def install(cls, name, keep):
        calls = []
        original = getattr(cls, name)

        def wrapper(self, *args, **kwargs):
            result = original(self, *args, **kwargs)
            calls.append(keep(self, args, result))
            return result

        monkeypatch.setattr(cls, name, wrapper)
        return calls

    return install


def _prompt_features(clip_model, names, context):
    """Normalised text features of ``[SOS] context [tokens of "<name>."] [EOT]`` through open_clip's own modules.

    ``context`` is [M, W] (one for every name) or [B, M, W] (one per name); the full 77-token sequence
    runs through ``transformer`` with CLIP's causal mask, ``ln_final``, the EOT token and ``text_projection``.
    """
    m = context.shape[-2]
    tokens = open_clip.tokenize([" ".join(["X"] * m) + f" {name.replace('_', ' ')}." for name in names])
    tokens = tokens.to(clip_model.token_embedding.weight.device)
    embedded = clip_model.token_embedding(tokens).float()
    if context.dim() == 2:
        context = context.unsqueeze(0).expand(len(names), -1, -1)
    x = torch.cat([embedded[:, :1], context.float(), embedded[:, 1 + m:]], dim=1)
    x = x + clip_model.positional_embedding.float()
    x = clip_model.transformer(x, attn_mask=clip_model.attn_mask)
    x = clip_model.ln_final(x)
    x = x[torch.arange(x.shape[0]), tokens.argmax(dim=-1)] @ clip_model.text_projection
    return F.normalize(x.float(), dim=-1)


def _reference_decode(generator, clip_model, z, names):
    """SHIP's decode written out: r = fc2(act(fc1(z))) from the generator's weights, prompt (ctx + r) + name."""
    fc1, fc2 = generator.bias_mlp.fc1, generator.bias_mlp.fc2
    hidden = F.linear(z.float(), fc1.weight.float(), fc1.bias.float())
    hidden = F.leaky_relu(hidden, 0.2) if generator.activation == "leaky_relu" else F.relu(hidden)
    r = F.linear(hidden, fc2.weight.float(), fc2.bias.float())
    context = generator.ctx.float().unsqueeze(0) + r.unsqueeze(1)
    return _prompt_features(clip_model, names, context)


@pytest.fixture
def prompt_features():
    return _prompt_features


@pytest.fixture
def reference_decode():
    return _reference_decode


@pytest.fixture
def latents(monkeypatch):
    """Every latent z drawn for synthesis (``standard_normal`` of the VAE module), in order."""
    import shipclip.ship.vae as vae

    drawn = []
    original = vae.standard_normal

    def record(*args, **kwargs):
        z = original(*args, **kwargs)
        drawn.append(z.detach().clone())
        return z

    monkeypatch.setattr(vae, "standard_normal", record)
    return drawn
