"""Numbers the paper reports (spec §4; only the abstract and the README were readable)."""

SYMMETRIC_CE_TEST_ERROR = 0.117  # CIFAR-10, symmetric EP with cross-entropy (B1 or C1)
ONE_SIDED_TEST_ERROR = 0.86  # CIFAR-10, standard one-sided EP ("does not scale")
CHANCE_ERROR = 0.90  # ten balanced classes
