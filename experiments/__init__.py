"""mesaworld experiments: configs and presets (`config`), training (`train`), evaluation
(`evaluate`), checkpoints (`checkpoint`), the run folder (`runfolder`), baselines, sweeps, the
`mesaworld` command line (`cli`, `commands`) and numbered experiment scripts (`e01_...`)."""
