"""Instruments: everything that loads, plays or edits a trained agent. One file + one row of
`registry.INSTRUMENTS` per probe (thinking time, basin, retarget, linear probes); the readout of a
planner's map, capability curves, in-context curves and approximate alignment beside them."""
