"""Numbers the lab (and the UvA tutorial it adapts) reports: spec section 4."""

LAYERS = (0, 2, 4, 6, 8)

MNIST_EPOCHS = 20  # N_EPOCHS of exercise 1
MNIST_TEST_ACCURACY = 0.96  # "about 96 %" (lab exercise 2; solved notebook 0.96)
MNIST_VAL_ACCURACY_EPOCH1_LR0005 = 0.8734  # solved notebook, val loss 0.486

# Solved notebook, FashionMNIST in [-1, 1], one random draw; layers 0, 2, 4, 6, 8.
ACTIVATION_VARIANCE = {
    "init_identity_const": (1.004, 6.58, 10.78, 17.66, 7.23),
    "init_identity_std0.01": (0.0531, 0.00279, 1.57e-4, 7.95e-5, 6.28e-5),
    "init_identity_std0.1": (5.46, 24.38, 58.82, 152.3, 205.5),
    "init_identity_equal_var": (0.685, 0.725, 0.662, 0.704, 0.673),
    "init_identity_xavier": (0.827, 1.090, 1.013, 1.439, 2.762),
    "init_tanh_xavier": (0.872, 0.471, 0.271, 0.223, 0.374),
}
GRADIENT_VARIANCE = {
    "init_tanh_xavier": (2.00e-5, 3.28e-5, 4.43e-5, 6.45e-5, 5.92e-4),
}

# UvA tutorial 4, ReLU + Kaiming, 40 epochs, best-validation checkpoint (phlippe/saved_models).
UVA_TEST_ACCURACY = {"sgd": 0.8909, "sgd_momentum": 0.8883, "adam": 0.8946}
UVA_EPOCHS, UVA_TRAIN_IMAGES = 40, 50_000
# Quick scale (3 epochs on 10 000 images): no number in the spec; our floor (chance 10 %).
O3_QUICK_FLOOR = 0.75

# Spec "(ours)": the formulas of section 1.3 in float32; point recorded before update 100.
CURVATURE_FINAL = {
    "sgd": (5.13, -6.72, 1.052),
    "sgd_momentum": (0.041, -13.07, 0.0021),
    "adam": (-0.002, -12.63, 0.0),
}
