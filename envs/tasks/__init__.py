"""One file per task. Each defines its rules (`Task` subclass), generators, `SHIFT`, example levels
and `SPEC` (`mesaworld.envs.spec.TaskSpec`: everything generic code needs to know about it)."""
