"""mesaworld experiments: the `mesaworld` command line (`experiments.cli`) and experiment scripts."""
