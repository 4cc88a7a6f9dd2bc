"""UCF101 (101 actions, one middle frame per video): ``ucf101/UCF-101-midframes`` + ``split_zhou_UCF101.json``."""
import os
import re

from .benchmark import SplitDataset
from .layout import make_datum
from .splits import split_trainval
from .templates import CUSTOM_TEMPLATES

__all__ = ["UCF101", "action_classname"]


def action_classname(action):
    """Split a CamelCase action on capitals: ``"ApplyEyeMakeup"`` -> ``"Apply_Eye_Makeup"``."""
    return "_".join(re.findall("[A-Z][^A-Z]*", action))


class UCF101(SplitDataset):
    """Split generation: ``ucfTrainTestlist/classInd.txt`` (``<1-based id> <Action>``),
    ``trainlist01.txt`` (80/20 train/val) and ``testlist01.txt``; the frame of ``Action/v_x.avi``
    is ``UCF-101-midframes/<Split_Action>/v_x.jpg``."""

    folder = "ucf101"
    image_subdir = "UCF-101-midframes"
    split_file = "split_zhou_UCF101.json"
    raw_files = ("ucfTrainTestlist/classInd.txt", "ucfTrainTestlist/trainlist01.txt",
                 "ucfTrainTestlist/testlist01.txt")
    template = CUSTOM_TEMPLATES["UCF101"]

    def generate_split(self):
        cname2lab = {}
        with open(os.path.join(self.dataset_dir, "ucfTrainTestlist", "classInd.txt"), encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    index, action = line.split()
                    cname2lab[action] = int(index) - 1
        trainval = self.read_list("trainlist01.txt", cname2lab)
        test = self.read_list("testlist01.txt", cname2lab)
        train, val = split_trainval(trainval)
        return train, val, test

    def read_list(self, name, cname2lab):
        path = os.path.join(self.dataset_dir, "ucfTrainTestlist", name)
        items = []
        with open(path, encoding="utf-8") as f:
            for line in f:
                if not line.strip():
                    continue
                action, video = line.split()[0].split("/")
                renamed = action_classname(action)
                impath = os.path.join(self.image_dir, renamed, os.path.splitext(video)[0] + ".jpg")
                items.append(make_datum(impath, cname2lab[action], renamed, path, self.docs_section))
        return items
