"""Numbers the paper reports (spec §4): Fig. 1 digitised from the released vector PDF."""

# Test error (%) at plot positions 1..15 (checkpoints after iterations 0, 500, ..., 7000),
# mean ± population std over 10 runs. Position 0 (100 %) is a prepended constant.
ENKF_ERROR_MEAN = (
    91.08, 6.95, 5.75, 5.39, 5.07, 4.86, 4.64, 4.57, 4.45, 4.34, 4.28, 4.25, 4.19, 4.15, 4.10,
)  # fmt: skip
ENKF_ERROR_STD = (
    0.00, 0.45, 0.38, 0.34, 0.34, 0.32, 0.30, 0.31, 0.29, 0.29, 0.25, 0.25, 0.24, 0.26, 0.24,
)  # fmt: skip
SGD_ERROR_MEAN = (
    89.01, 89.60, 84.76, 83.71, 83.12, 83.87, 83.26, 82.36, 83.04, 82.13, 82.77, 82.20, 82.24,
    82.01, 81.85,
)  # fmt: skip
SGD_ERROR_STD = (
    2.81, 0.88, 16.49, 17.55, 20.34, 18.82, 20.75, 22.45, 21.82, 22.93, 21.79, 23.35, 23.27,
    24.05, 24.02,
)  # fmt: skip

FIRST_CHECKPOINT_ERROR = 91.08  # = 100 - 8.92: all 10 000 test images classified as one digit
COLLAPSE_CLASS = 5  # 892 of the 10 000 test images are 5s
