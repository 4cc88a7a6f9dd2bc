"""``Datum``, ``DatasetBase`` and few-shot sampling with Dassl's semantics.

Few-shot sampling draws from python's global ``random`` in exactly Dassl's order (labels in
first-appearance order, ``random.sample`` per label), so for the same seed the picked images
equal those of CoOp's own code.
"""
import os
import random
from collections import defaultdict

__all__ = ["Datum", "DatasetBase"]


class Datum:
    """One image record: path, label, domain, class name (read-only)."""

    __slots__ = ("_impath", "_label", "_domain", "_classname")

    def __init__(self, impath="", label=0, domain=0, classname="", check_exists=True):
        if not isinstance(impath, str):
            raise TypeError(f"Datum.impath must be a str, got {type(impath).__name__}: {impath!r}")
        if check_exists and not os.path.isfile(impath):
            raise FileNotFoundError(
                f'Image file not found: "{impath}". Check DATASET.ROOT and the dataset layout '
                "described in DATASETS.md."
            )
        self._impath = impath
        self._label = int(label)
        self._domain = int(domain)
        self._classname = classname

    impath = property(lambda self: self._impath)
    label = property(lambda self: self._label)
    domain = property(lambda self: self._domain)
    classname = property(lambda self: self._classname)

    def __repr__(self):
        return f"Datum(impath={self._impath!r}, label={self._label}, domain={self._domain}, classname={self._classname!r})"

    def __eq__(self, other):
        return isinstance(other, Datum) and (self._impath, self._label, self._domain, self._classname) == (
            other._impath, other._label, other._domain, other._classname)

    def __hash__(self):
        return hash((self._impath, self._label, self._domain, self._classname))

    def __getstate__(self):
        return (self._impath, self._label, self._domain, self._classname)

    def __setstate__(self, state):
        self._impath, self._label, self._domain, self._classname = state


class DatasetBase:
    """Holds the train_x / train_u / val / test lists and derives the label space from train_x."""

    dataset_dir = ""
    domains = []

    def __init__(self, train_x=None, train_u=None, val=None, test=None):
        self._train_x = train_x
        self._train_u = train_u
        self._val = val
        self._test = test
        self._num_classes = self.get_num_classes(train_x) if train_x else 0
        self._lab2cname, self._classnames = self.get_lab2cname(train_x) if train_x else ({}, [])

    train_x = property(lambda self: self._train_x)
    train_u = property(lambda self: self._train_u)
    val = property(lambda self: self._val)
    test = property(lambda self: self._test)
    lab2cname = property(lambda self: self._lab2cname)
    classnames = property(lambda self: self._classnames)
    num_classes = property(lambda self: self._num_classes)

    @staticmethod
    def get_num_classes(data_source):
        return max(item.label for item in data_source) + 1

    @staticmethod
    def get_lab2cname(data_source):
        pairs = {(item.label, item.classname) for item in data_source}
        mapping = {label: name for label, name in pairs}
        labels = sorted(mapping)
        return mapping, [mapping[label] for label in labels]

    def check_input_domains(self, source_domains, target_domains):
        self.is_input_domain_valid(source_domains)
        self.is_input_domain_valid(target_domains)

    def is_input_domain_valid(self, input_domains):
        for domain in input_domains:
            if domain not in self.domains:
                raise ValueError(f"Input domain must belong to {self.domains}, but got [{domain}]")

    def generate_fewshot_dataset(self, *data_sources, num_shots=-1, repeat=False):
        """K images per label, drawn with python ``random`` in Dassl's order."""
        if num_shots < 1:
            return data_sources[0] if len(data_sources) == 1 else data_sources
        print(f"Creating a {num_shots}-shot dataset")
        output = []
        for data_source in data_sources:
            tracker = self.split_dataset_by_label(data_source)
            dataset = []
            for _, items in tracker.items():
                if len(items) >= num_shots:
                    sampled = random.sample(items, num_shots)
                elif repeat:
                    sampled = random.choices(items, k=num_shots)
                else:
                    sampled = items
                dataset.extend(sampled)
            output.append(dataset)
        return output[0] if len(output) == 1 else output

    @staticmethod
    def split_dataset_by_label(data_source):
        output = defaultdict(list)
        for item in data_source:
            output[item.label].append(item)
        return output

    @staticmethod
    def split_dataset_by_domain(data_source):
        output = defaultdict(list)
        for item in data_source:
            output[item.domain].append(item)
        return output
