"""mesaworld analysis: reads run folders only (through `mesaworld.analysis.runfolder`, which holds no
training code) and never imports training code.

runs.py      run folders -> tidy DataFrames        metrics.py  scores, PA index, CIs over seeds
labels.py    the one goal-vs-capability label      figures.py  the summary figures and GIFs
irl.py       soft VI + MCE IRL on a tabular MDP     epic.py     the EPIC-style reward distance
behavioral.py  per-run behavioral objective (`mesaworld analyze`), behavior_figures.py its figures
"""

import os

os.environ.setdefault("MPLBACKEND", "Agg")  # figures are headless by default; a user's backend wins
