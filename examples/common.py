"""Shared helpers of the example scripts (synthetic, LRA, Speech Commands), in one namespace.

Each helper lives in a module with one job, all re-exported here:

| module | job |
|---|---|
| `run_settings` | command-line arguments, presets + overrides, the backend name |
| `run_folder` | the output folder: config.json (resume check), results.json, history.json |
| `training` | device scope, `fit_resumably`, checkpoints, history writer, epoch timer, time budget |
| `plots` | training_curves.png |
| `paper_setup` | the papers' classifiers: model arguments, optimizer groups, callbacks, step scale, scores, `fit_paper_classifier` |

A script imports this module (`import common`; the scripts' folder is on `sys.path`
when run as `python examples/<script>.py`) and follows the same five steps:

```python
parser = argparse.ArgumentParser()
common.add_training_arguments(parser, presets=PRESETS, default_preset="small")
args = parser.parse_args(argv)
settings = common.resolve_settings(PRESETS[args.preset], args)       # preset + CLI overrides
output = common.prepare_output_dir(args.output, config)               # config.json, resume check
with common.distribution_scope(args.distribution) as scope:          # one device or data parallel
    model = build(...); model.compile(...)
    model.fit(data, epochs=..., callbacks=common.training_callbacks(output, data=data),
              verbose=args.verbose)
common.restore_best_weights(model, output)
common.write_results(output, {...})                                   # results.json
common.plot_history(output)                                           # training_curves.png
```

What ends up in the output folder:

| file | written by | content |
|---|---|---|
| `config.json` | `prepare_output_dir` | the run's settings; a rerun must match them (except `RESUMABLE_KEYS`) |
| `backup/` | `keras_ssm.callbacks.BackupAndRestore` | weights, optimizer and RNG state after every epoch: rerunning the same command resumes there |
| `best.weights.h5` | `keras.callbacks.ModelCheckpoint` | the weights with the best monitored value so far |
| `history.json`, `history.csv` | `HistoryWriter` | one row per finished epoch (resumed runs keep the earlier rows) |
| `results.json` | `write_results` | the script's final metrics |
| `training_curves.png` | `plot_history` | loss and metrics per epoch (needs matplotlib) |

Resume: rerun the same command (or the same with a larger `--epochs`) with the same
`--output`: training continues after the last finished epoch. A finished run is kept
(`delete_checkpoint=False`), so raising `--epochs` extends it.
"""

from paper_setup import classification_scores  # noqa: F401
from paper_setup import fit_paper_classifier  # noqa: F401
from paper_setup import OrderedBatches  # noqa: F401
from paper_setup import paper_callbacks  # noqa: F401
from paper_setup import paper_optimizer  # noqa: F401
from paper_setup import paper_optimizer_groups  # noqa: F401
from paper_setup import S5_OPT_CONFIGS  # noqa: F401
from paper_setup import ssm_model_kwargs  # noqa: F401
from paper_setup import SSM_MODELS  # noqa: F401
from paper_setup import with_step_scale  # noqa: F401
from plots import plot_history  # noqa: F401
from run_folder import _jsonable  # noqa: F401
from run_folder import BACKUP_DIR  # noqa: F401
from run_folder import best_epoch  # noqa: F401
from run_folder import BEST_WEIGHTS  # noqa: F401
from run_folder import CONFIG_JSON  # noqa: F401
from run_folder import CURVES_PNG  # noqa: F401
from run_folder import HISTORY_CSV  # noqa: F401
from run_folder import HISTORY_JSON  # noqa: F401
from run_folder import load_history  # noqa: F401
from run_folder import prepare_output_dir  # noqa: F401
from run_folder import RESULTS_JSON  # noqa: F401
from run_folder import RESUMABLE_KEYS  # noqa: F401
from run_folder import write_json  # noqa: F401
from run_folder import write_results  # noqa: F401
from run_settings import _positive_int  # noqa: F401
from run_settings import add_training_arguments  # noqa: F401
from run_settings import backend_name  # noqa: F401
from run_settings import DISTRIBUTIONS  # noqa: F401
from run_settings import resolve_settings  # noqa: F401
from training import distribution_scope  # noqa: F401
from training import EpochTimer  # noqa: F401
from training import fit_resumably  # noqa: F401
from training import HistoryWriter  # noqa: F401
from training import restore_best_weights  # noqa: F401
from training import TimeBudget  # noqa: F401
from training import training_callbacks  # noqa: F401
