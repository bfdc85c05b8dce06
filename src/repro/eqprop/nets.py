"""The two ConvNets the spec names, as `EnergyNet` keyword arguments: one definition for
the tests and the benchmarks (the configs give the same networks as experiment keys).

* MNIST_CNN: spec §5 Q3, the quick preset's CNN 1-16-32 (kernels 5, max-pools) + fc 10;
* CIFAR10_CNN: the paper's CIFAR-10 CNN 3-128-256-512-512 (kernels 3) + fc 10.
"""

MNIST_CNN = dict(
    in_shape=(1, 28, 28),
    channels=(16, 32),
    kernels=(5, 5),
    strides=(1, 1),
    paddings=(0, 0),
    pools="mm",
    fc=(10,),
)
CIFAR10_CNN = dict(
    in_shape=(3, 32, 32),
    channels=(128, 256, 512, 512),
    kernels=(3, 3, 3, 3),
    strides=(1, 1, 1, 1),
    paddings=(1, 1, 1, 0),
    pools="mmmm",
    fc=(10,),
)
