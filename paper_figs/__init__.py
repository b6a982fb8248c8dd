"""logitrank.paper_figs — one module per figure; each reads saved results and never recomputes theory."""
