"""
Your own model family, searched beside the MLPs
===============================================

Write the architecture idea, not its widths: a family is a class with a ``name``, its own
``choices`` and a ``build(spec)`` that returns a Keras model for the sampled choices
(``spec.values``) and a width (``spec.width``). mnistopt gives every trial the widest width whose
built model fits the budget (counted on the model itself, so it is exact for any layers), then
trains, selects on validation, exports and reports it as it does its own families.

Here, a small residual network: a convolution stem, one or two residual blocks, a flattening head.
"""

import tempfile

import keras
import matplotlib.pyplot as plt

from mnistopt import Choice, SearchSpace, load_dataset, search_under_budget
from mnistopt.families import ModelFamily, register_family


class Residual(ModelFamily):
    name = "residual"
    choices = {"blocks": Choice(1, 2), "kernel": Choice(3, 5)}

    def build(self, spec):
        layers, k = keras.layers, spec.values["kernel"]
        inputs = keras.Input(spec.input_shape)  # (28, 28) grey images
        x = layers.Reshape((*spec.input_shape, 1))(inputs)
        x = layers.Conv2D(spec.width, k, padding="same", activation=spec.activation)(x)
        x = layers.MaxPooling2D(2)(x)
        for _ in range(spec.values["blocks"]):
            y = layers.Conv2D(spec.width, 3, padding="same", activation=spec.activation)(x)
            y = layers.Conv2D(spec.width, 3, padding="same")(y)
            x = layers.Activation(spec.activation)(layers.Add()([x, y]))
        x = layers.Flatten()(layers.MaxPooling2D(2)(x))
        return keras.Model(inputs, layers.Dense(spec.num_classes, activation="softmax")(x))


register_family(Residual())
data = load_dataset("mnist-sample")
print(data.name, data.sizes)

# %%
# Its models at the reference notebook's smallest budget: the widest of each choice that fits.
resolved = SearchSpace(family="residual").resolve(4034)
for blocks in (1, 2):
    spec = resolved.to_spec({**resolved.defaults(), "residual_blocks": blocks, "residual_kernel": 3})
    print(f"{spec.architecture:<28} {spec.params:>5,} params  {spec.macs:>9,} multiply-accumulates")

# %%
# A short random search of both families at 4,034 parameters (a real search runs Hyperband's 44
# trials and searches the training settings too; here they are fixed, so the trials differ in
# architecture). The family is one more searched choice; the best on validation is selected.
space = SearchSpace(family=Choice("mlp", "residual"), optimizer="adam", learning_rate=3e-3, lr_schedule="constant",
                    batch_size=64, dropout=0.0, l2=0.0, batch_norm=False, augment="none", label_smoothing=0.0)
result = search_under_budget(4034, data, space=space, tuner="random", max_trials=6, max_epochs=3, seed=0,
                             directory=tempfile.mkdtemp())
for r in result.for_budget(4034):
    if r.val_accuracy is not None and not r.is_compression_stage:
        print(f"{r.family:<9} {r.spec.architecture:<28} {r.params:>5,} params  val {r.val_accuracy:.4f}")
best = result.best(4034).record
print(f"selected on validation: {best.spec.architecture}, test {best.test_accuracy:.4f}")

# %%
# Each trial's validation accuracy against its multiply-accumulates, by family.
fig, ax = plt.subplots(figsize=(6.4, 3.6))
for family, marker in (("mlp", "o"), ("residual", "s")):
    trials = [r for r in result.for_budget(4034) if r.family == family and r.val_accuracy is not None
              and not r.is_compression_stage]
    ax.scatter([r.macs for r in trials], [r.val_accuracy for r in trials], marker=marker, label=family)
ax.set_xscale("log")
ax.set_xlabel("multiply-accumulates per image")
ax.set_ylabel("validation accuracy")
ax.set_title("4,034 parameters, mnist-sample")
ax.legend()
fig.tight_layout()
