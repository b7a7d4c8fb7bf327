"""The example scripts (synthetic, sequential_image, lra, speech_commands, ...) and their helpers.

Run a script from the repository root as a module, e.g.
`python -m examples.synthetic --task shift --model dlr --preset demo`. The helpers live in
modules with one job, imported by the scripts as `from examples import training`:

- `run_settings`: command-line arguments, presets + overrides, the backend name;
- `run_folder`: the output folder: config.json (resume check), results.json, history.json;
- `training`: device scope, `fit_resumably`, checkpoints, history writer, epoch timer, time
  budget;
- `plots`: training_curves.png;
- `paper_setup`: the papers' classifiers: model arguments, optimizer groups, callbacks, step
  scale, scores, `fit_paper_classifier`.

A script follows the same five steps:

```python
from examples import paper_setup, plots, run_folder, run_settings, training

parser = argparse.ArgumentParser()
run_settings.add_training_arguments(parser, presets=PRESETS, default_preset="small")
args = parser.parse_args(argv)
settings = run_settings.resolve_settings(PRESETS[args.preset], args)  # preset + CLI overrides
output = run_folder.prepare_output_dir(args.output, config)            # config.json, resume check
with training.distribution_scope(args.distribution) as scope:         # one device or data parallel
    model = build(...); model.compile(...)
    model.fit(data, epochs=..., callbacks=training.training_callbacks(output, data=data),
              verbose=args.verbose)
training.restore_best_weights(model, output)
run_folder.write_results(output, {...})                                # results.json
plots.plot_history(output)                                             # training_curves.png
```

What ends up in the output folder:

- `config.json` (`run_folder.prepare_output_dir`): the run's settings; a rerun must match them
  (except `RESUMABLE_KEYS`);
- `backup/` (`keras_ssm.callbacks.BackupAndRestore`): weights, optimizer and RNG state after
  every epoch: rerunning the same command resumes there;
- `best.weights.h5` (`keras.callbacks.ModelCheckpoint`): the weights with the best monitored
  value so far;
- `history.json`, `history.csv` (`training.HistoryWriter`): one row per finished epoch (resumed
  runs keep the earlier rows);
- `results.json` (`run_folder.write_results`): the script's final metrics;
- `training_curves.png` (`plots.plot_history`): loss and metrics per epoch (needs matplotlib).

Resume: rerun the same command (or the same with a larger `--epochs`) with the same
`--output`: training continues after the last finished epoch. A finished run is kept
(`delete_checkpoint=False`), so raising `--epochs` extends it.
"""
