"""mesaworld experiments: training (`training/`), instruments that load and play agents
(`instruments/`), the `mesaworld` command line (`cli/`), and the numbered experiment scripts
(`e01_...` to `e06_...`, run as `python -m mesaworld.experiments.<name>`) with their shared helper
(`report`)."""
