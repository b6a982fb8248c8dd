"""Numbers published in the source papers, as plain data (no computation, no torch).

Figure modules may read these to draw the paper's values next to ours.
"""

#: Jiang et al. Table 1 (SGD, complete conditionals, d = m): m -> (unemb., emb., mixed) mean ± s.e.
PAPER_TABLE1_SGD = {
    3: ((0.972, 0.006), (0.982, 0.005), (0.980, 0.005)),
    4: ((0.975, 0.005), (0.971, 0.005), (0.973, 0.005)),
    5: ((0.988, 0.004), (0.981, 0.004), (0.984, 0.004)),
    6: ((0.997, 0.000), (0.985, 0.002), (0.990, 0.001)),
    7: ((0.995, 0.001), (0.972, 0.004), (0.981, 0.003)),
}
#: Jiang et al. Table 2 (Adam lr 1e-3, same setting).
PAPER_TABLE2_ADAM = {
    3: ((0.910, 0.015), (0.923, 0.013), (0.926, 0.012)),
    4: ((0.972, 0.005), (0.959, 0.005), (0.965, 0.005)),
    5: ((0.985, 0.004), (0.970, 0.004), (0.975, 0.004)),
    6: ((0.996, 0.001), (0.977, 0.002), (0.983, 0.001)),
    7: ((0.966, 0.012), (0.918, 0.016), (0.929, 0.015)),
}
