"""logitrank.sim — synthetic models with known truth and the experiments that check the theorems."""
