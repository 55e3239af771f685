"""The `mesaworld` command line (`main`), its commands (`commands`, `readout_cmd`) and the
console-script entry point (`entry`)."""
