"""Results: the ``results.json`` format, reading runs back, and the tables over seeds and datasets.

=================  ==============================================================================
module             what it does
=================  ==============================================================================
``record``         the results.json format: :func:`record_evaluation`, :func:`load_results`
``dassl_log``      Dassl ``log.txt`` parsing (runs made with real Dassl's own trainers)
``layout``         protocol / dataset / trainer / config / seed from a run's folder
``runs``           one record per run folder: :func:`read_run`, :func:`is_finished`, :func:`collect`
``stats``          means, the two std conventions, harmonic mean, the paired t interval
``protocols``      per-seed measurements of each protocol, and what each reports as missing
``builder``        the one table builder: rows of (dataset, method) x metrics, averages
``paired``         per-seed differences of two methods with their t interval
``ablation``       the ablation table: variants as rows with their paired deltas
``summary``        :func:`summarize` (all tables) and :func:`paired` (all comparisons)
``render``         terminal / Markdown / CSV / JSON output of tables and comparisons
``plot``           bar charts of the tables (matplotlib)
=================  ==============================================================================

Protocol tables print mean ± *population* standard deviation over seeds (numpy's default, as in
CoOp's parser); the ablation table prints the sample std (n-1), which its paired intervals use;
every table header says which. Base-to-new H per dataset is the harmonic mean of the
seed-averaged Base and New; the average row holds the mean Base, the mean New and the H of those
two means (not the mean of per-dataset H). GZSL H is the harmonic mean of the seed-averaged U and S.
"""
from .ablation import build_ablation_table, choose_reference
from .builder import DATASET_ORDER, Measurements, build_table
from .dassl_log import parse_log
from .layout import PROTOCOLS, parse_layout
from .paired import MethodNotFound, compare
from .protocols import measure
from .record import (CLASSES, FORMAT, IDENTITY_KEYS, RESULTS_FILENAME, RUN_KEYS, SPLITS, VERSION, ResultsFormatError,
                     final_evaluation, load_results, record_evaluation)
from .runs import collect, is_finished, read_run
from .stats import harmonic_mean, mean_std, t_interval
from .summary import SUMMARY_FORMAT, paired, summarize

__all__ = [
    "RESULTS_FILENAME", "FORMAT", "VERSION", "RUN_KEYS", "IDENTITY_KEYS", "SPLITS", "CLASSES", "PROTOCOLS",
    "SUMMARY_FORMAT", "DATASET_ORDER", "ResultsFormatError", "MethodNotFound",
    "record_evaluation", "load_results", "final_evaluation", "is_finished",
    "parse_log", "parse_layout", "read_run", "collect", "summarize", "paired",
    "harmonic_mean", "mean_std", "t_interval",
    "Measurements", "measure", "build_table", "build_ablation_table", "choose_reference", "compare",
]
