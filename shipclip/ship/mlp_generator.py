"""Non-prompt baseline generator: the same VAE encoder, an MLP decoder conditioned on class text.

The decoder sees ``[z, t_y]`` where ``t_y`` is the frozen, normalised CLIP text feature of
``"a photo of a <classname>."``, computed once per class list. It produces the image feature
directly, so the text tower is never run at decode time. This is the ablation that tells how much
of SHIP's gain comes from decoding through CLIP's own text encoder.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

from shipclip.clip.prompts import clean_classname

from .vae import FeatureVAE, init_linear, make_activation

__all__ = ["MLPGenerator", "encode_class_texts"]


@torch.no_grad()
def encode_class_texts(text_encoder, tokenizer, classnames, template="a photo of a {}.", batch_size=256):
    """Normalised text features [C, D] of ``template.format(name)`` for every class (frozen tower)."""
    device = text_encoder.token_embedding.weight.device
    feats = []
    names = [clean_classname(n) for n in classnames]
    for start in range(0, len(names), batch_size):
        tokens = tokenizer([template.format(n) for n in names[start:start + batch_size]]).to(device)
        tokens = tokens[:, :text_encoder.sequence_length(tokens)]
        feats.append(text_encoder(text_encoder.embed(tokens), tokens).float())
    return F.normalize(torch.cat(feats), dim=-1)


class MLPGenerator(FeatureVAE):
    """VAE with decoder ``Linear(H_g -> D)(act(Linear(L + D -> H_g)([z, t_y])))``.

    Same constructor arguments and API as :class:`shipclip.ship.generator.SHIPGenerator` minus the
    prompt options; ``template`` is the sentence whose text feature conditions the decoder.
    """

    kind = "mlp"

    def __init__(self, clip_model, tokenizer, classnames, enc_hidden=2048, latent_dim=512, gen_hidden=4096,
                 activation="relu", lambda_kl=1.0, template="a photo of a {}."):
        super().__init__(clip_model, tokenizer, classnames, enc_hidden=enc_hidden, latent_dim=latent_dim,
                         lambda_kl=lambda_kl)
        if "{}" not in template:
            raise ValueError(f"The class-text template must contain '{{}}' for the class name, got {template!r}.")
        self.template = template
        self.gen_hidden = int(gen_hidden)
        self.activation = activation
        self.decoder = nn.Sequential(
            nn.Linear(self.latent_dim + self.embed_dim, self.gen_hidden),
            make_activation(activation),
            nn.Linear(self.gen_hidden, self.embed_dim),
        )
        init_linear(self.decoder)
        self._finish_init()

    def extra_repr(self):
        return (f"embed_dim={self.embed_dim}, latent_dim={self.latent_dim}, gen_hidden={self.gen_hidden}, "
                f"lambda_kl={self.lambda_kl}, n_cls={self.num_classes}")

    def _build_condition(self, names):
        return encode_class_texts(self.text_encoder, self.tokenizer, names, self.template).to(self.device)

    def _apply_to_condition(self, cond, fn):
        return fn(cond)

    def class_text_features(self, classnames=None):
        """The cached, frozen text features [C, D] that condition the decoder."""
        return self._condition(classnames)[0]

    def _decode(self, z, labels, text_features):
        return self.decoder(torch.cat([z, text_features[labels]], dim=-1))
