"""The salts of every seeded choice a dataset makes, in one table.

A data seed (``data.seed``, ``data.split_seed``) is combined with a fixed salt per choice,
``np.random.default_rng([seed, DATA_SALTS[choice]])``, so that the choices draw independent
streams. The values are fixed constants: changing or reusing one would silently change
every existing run's data.
"""

DATA_SALTS = {
    "validation_split": 0x7A1,  # base.split_off_validation
    "long_tail": 0x10CA7,  # base.make_long_tailed
    "max_train_per_class": 0xCA9,  # base.cap_training_classes
    "digits_split": 0xD1617,  # digits.load_digits
    "cifar10s_skew": 0xC0105,  # cifar.load_cifar10s
    "utkface_split": 0x07F4CE,  # utkface.split_table
}
