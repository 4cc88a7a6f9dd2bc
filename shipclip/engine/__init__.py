"""Built-in engine speaking Dassl.pytorch's API (used when Dassl is not installed).

Do not import from here in trainers or datasets: use :mod:`shipclip.backend`, which picks real
Dassl when it imports.
"""
from .registry import Registry, check_availability
from .config import get_cfg_default
from .utils import (AverageMeter, MetricMeter, check_isfile, collect_env_info, listdir_nohidden,
                    mkdir_if_missing, read_image, read_json, set_random_seed, setup_logger, write_json)
from shipclip.infra.checkpoint import load_checkpoint, load_pretrained_weights, resume_from_checkpoint, save_checkpoint
from .metrics import compute_accuracy
from .optim import build_lr_scheduler, build_optimizer
from .evaluation import EVALUATOR_REGISTRY, Classification, EvaluatorBase, build_evaluator
from .data import DATASET_REGISTRY, DataManager, DatasetBase, DatasetWrapper, Datum, build_dataset, build_transform
from .trainer import TRAINER_REGISTRY, SimpleTrainer, TrainerBase, TrainerX, build_trainer
