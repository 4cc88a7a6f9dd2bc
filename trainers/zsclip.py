"""Zero-shot CLIP baselines (CoOp's ``ZeroshotCLIP`` and ``ZeroshotCLIP2``).

Nothing is learned: the classifier is the normalised text features of class prompts. Both are
meant for ``--eval-only`` runs; ``train()`` only evaluates (there is nothing to fit), so running
them through a training script is harmless.
"""
import time

from shipclip.datasets.templates import IMAGENET_TEMPLATES_SELECT, template_for

from .base import ClipTrainer

__all__ = ["ZeroshotCLIP", "ZeroshotCLIP2"]


class ZeroshotCLIP(ClipTrainer):
    """One prompt per class from the dataset's template (CoOp's per-dataset table as fallback)."""

    PREC_NODE = "ZSCLIP"

    def templates(self):
        template = getattr(self.dm.dataset, "template", None) or template_for(self.cfg.DATASET.NAME)
        return [template] if isinstance(template, str) else list(template)

    def build_head(self):
        self._classifiers = {}
        templates = self.templates()
        print(f"Prompt template(s): {templates}")

    def classifier(self, classnames):
        """Normalised text features [C, D] for ``classnames`` (computed once per label space)."""
        key = tuple(classnames)
        if key not in self._classifiers:
            self._classifiers[key] = self.zeroshot_weights(classnames, self.templates())
        return self._classifiers[key]

    def logits_from_features(self, features, classnames=None):
        classnames = self.get_eval_classnames() if classnames is None else classnames
        return self.logit_scale * features.float() @ self.classifier(classnames).t()

    def train(self):
        """Nothing to train: evaluate as the end of a training run would."""
        self.time_start = time.time()
        print(f"{type(self).__name__} has no parameters to train; evaluating the zero-shot classifier")
        self.after_train()

    def deploy_final_model(self):
        print("Deploy the zero-shot classifier")


class ZeroshotCLIP2(ZeroshotCLIP):
    """Prompt ensemble: CLIP's 7 selected ImageNet templates, plus the dataset's own template
    for datasets other than ImageNet; the class feature is the normalised mean over templates."""

    def templates(self):
        templates = list(IMAGENET_TEMPLATES_SELECT)
        if self.cfg.DATASET.NAME != "ImageNet":
            own = super().templates()
            templates += [t for t in own if t not in templates]
        return templates
