"""logitrank.theory — the math core (NumPy/SciPy/SymPy/CVXPY; never imports torch)."""
